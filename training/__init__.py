"""The home of the models this project trains itself: data generation, training and evaluation.

Runtime code never imports this package. Each model has a folder (`training/see/`, ...) that generates its
data, trains it (`transmodal train NAME`), evaluates it (`transmodal eval NAME`) and writes a checkpoint;
the network definition itself lives in `transmodal.nets`, and the executor that serves the model ships the
checkpoint in its own `checkpoints/` folder and only loads it.
"""

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shipped_checkpoint(executor: str, name: str) -> str:
    """The path of a checkpoint shipped with an executor (a file path, not an import of the executor)."""
    return os.path.join(REPO_ROOT, "executors", executor, "checkpoints", name)
