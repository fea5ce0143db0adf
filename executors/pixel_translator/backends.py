"""Pixel translation backends: `translate(strips) -> strips`, ink in [0, 1] of shape (N, height, width),
the geometry of transmodal.strips. A backend's `source` and `target` are the languages it was trained on.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from transmodal.backends import Registry
from transmodal.models import torch_device
from transmodal.nets.checkpoint import load_configured
from transmodal.nets.pixels import ConvStripTranslator, PixelTranslator

PIXEL_TRANSLATORS: Registry = Registry("pixel translation")
CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


@PIXEL_TRANSLATORS.register("attention")
class TrainedPixelTranslator:
    """The full model of "Towards End-to-End In-Image Neural Machine Translation" (transmodal.nets.pixels),
    trained here on English sign, menu and direction phrases and Apertium's Spanish (training/pixels).

    Greedy decoding draws the translation piece by piece until a step changes no pixel (at most
    `max_steps`). It knows only what it was trained on: 14 px sans-serif lines of its phrase world,
    English to Spanish. `checkpoint` (or TRANSMODAL_PIXEL_TRANSLATOR) names another one.
    """

    ENV_VAR = "TRANSMODAL_PIXEL_TRANSLATOR"
    NETWORK = "pixel-translator"
    SHIPPED = "pixel-translator-attention-cpu.pt"
    source, target = "en", "es"

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str = "cpu",
        max_steps: int = 24,
        batch_size: int = 16,
        threads: int | None = 1,
    ):
        # One torch thread by default: an executor process forked from a parent that had used torch's
        # OpenMP pool hangs on its first parallel operation (measured: the Flow never came up after a
        # multi-threaded matmul in the parent); replicas, not threads, scale an executor. None: torch's own.
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = torch_device(device)
        self.model: ConvStripTranslator | PixelTranslator = load_configured(  # type: ignore[assignment]
            checkpoint,
            self.ENV_VAR,
            os.path.join(CHECKPOINTS, self.SHIPPED),
            self.NETWORK,
            self.device,
            "backend_options: {checkpoint: PATH}",
            "pixel-translator",
        )
        self.height, self.width = self.model.height, self.model.width
        self.max_steps = max_steps
        self.batch_size = batch_size

    def translate(self, strips: np.ndarray) -> np.ndarray:
        drawn = []
        with torch.no_grad():
            for start in range(0, len(strips), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(strips[start : start + self.batch_size]))
                out = self.model.translate(batch[:, None].float().to(self.device), max_steps=self.max_steps)
                drawn.append(out[:, 0].cpu().numpy())
        return np.concatenate(drawn) if drawn else np.zeros((0, self.height, self.width), np.float32)


@PIXEL_TRANSLATORS.register("conv")
class TrainedConvStripTranslator(TrainedPixelTranslator):
    """The paper's convolutional baseline (section 3.1): the whole translation drawn at once from one
    vector. Kept to compare; it does worse (training/pixels/README.md)."""

    ENV_VAR = "TRANSMODAL_PIXEL_TRANSLATOR_CONV"
    NETWORK = "conv-strip-translator"
    SHIPPED = "pixel-translator-conv-cpu.pt"
