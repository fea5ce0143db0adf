"""Torch network definitions shared by the executors that load checkpoints and training/, which writes them."""
