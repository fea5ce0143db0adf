"""`python3 -m training.gpu.train eraser|scenes MODEL ARGS...`: `transmodal train MODEL ARGS...` without the
CLI, whose imports (jina, docarray) a GPU machine's Python does not have."""

import sys

if __name__ == "__main__":  # (the eraser's batch workers are spawned and import this module again)
    family, model, arguments = sys.argv[1], sys.argv[2], sys.argv[3:]
    if family == "eraser":
        from training.eraser.train import main
    elif family == "scenes":
        from training.scenes.train import main
    else:
        raise SystemExit(f"unknown family {family!r}: eraser or scenes")
    sys.exit(main(model, arguments))
