"""SEE (Bartz, Yang, Meinel 2017): text lines found and read by one network trained on text labels only.

model.py (the network, losses, regularisers), data.py (generated training images), train.py (curriculum,
restart trick, CPU/GPU configs), evaluate.py (held-out metrics, Flow comparison with Tesseract),
backend.py (SeeDetector, the TextDetector backend `see`). README.md has the measurements.
"""
