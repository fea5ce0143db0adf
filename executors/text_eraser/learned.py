"""The learned eraser (issue 12): a text segmentation network for the mask, partial convolutions to fill it.

Both load checkpoints trained by training/eraser (`transmodal train segmenter|inpainter`); the shipped
ones are in checkpoints/. Another one comes from `with:` (`mask_options: {checkpoint: PATH}`,
`backend_options: {checkpoint: PATH}`) or the environment variables below.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from executors.text_eraser.backends import ERASERS, TeleaInpainter, hole_windows
from transmodal.errors import ConfigurationError
from transmodal.models import torch_device

CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
SEGMENTER_ENV = "TRANSMODAL_SEGMENTER_CHECKPOINT"
INPAINTER_ENV = "TRANSMODAL_INPAINTER_CHECKPOINT"
MAX_UPSCALE = 3.0


def _load(network: str, checkpoint: str | None, env_var: str, default_name: str, device: str, threads: int | None):
    import torch

    from transmodal.nets import checkpoint as checkpoints

    if threads:
        torch.set_num_threads(threads)
    segmenter = network == "text-segmenter"
    return checkpoints.load_configured(
        checkpoint,
        env_var,
        os.path.join(CHECKPOINTS, default_name),
        network,
        torch_device(device),
        f"{'mask_options' if segmenter else 'backend_options'}: {{checkpoint: PATH}}",
        "segmenter" if segmenter else "inpainter",
    )


def _to_tensor(pixels: np.ndarray, device: str):
    import torch

    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float().div(255.0).to(device)


class TextSegmenterMask:
    """Text pixels of an image window, as the segmentation network sees them: `probabilities(rgb)`."""

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str = "auto",
        threshold: float = 0.5,
        min_text_height: float = 20.0,
        threads: int | None = None,
    ):
        if not 0 < threshold < 1:
            raise ConfigurationError(f"mask threshold must be between 0 and 1, got {threshold}")
        self.device = torch_device(device)
        self.model = _load("text-segmenter", checkpoint, SEGMENTER_ENV, "segmenter-cpu.pt", self.device, threads)
        self.threshold = threshold
        self.min_text_height = min_text_height

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Per-pixel text probability (float32, height x width) of an RGB uint8 window."""
        import torch

        height, width = pixels.shape[:2]
        # The network's output stride is 8: pad to a multiple of it by repeating the edge (no false border).
        padded = np.pad(pixels, ((0, -height % 8), (0, -width % 8), (0, 0)), mode="edge")
        with torch.inference_mode():
            logits = self.model(_to_tensor(padded, self.device))
        return torch.sigmoid(logits)[0, 0, :height, :width].cpu().numpy()

    def text(self, pixels: np.ndarray, text_height: float | None = None) -> np.ndarray:
        """The window's text pixels (bool). Text smaller than `min_text_height` (its line height given) is
        seen enlarged to that height: the network finds thin strokes of small lettering better that way."""
        height, width = pixels.shape[:2]
        scale = 1.0 if not text_height else min(MAX_UPSCALE, max(1.0, self.min_text_height / text_height))
        if scale > 1.0:
            enlarged = cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
            probabilities = cv2.resize(self.probabilities(enlarged), (width, height), interpolation=cv2.INTER_AREA)
        else:
            probabilities = self.probabilities(pixels)
        return probabilities > self.threshold


@ERASERS.register("pconv")
class PartialConvInpainter:
    """The partial-convolution U-Net (Liu et al. 2018) fills each group of holes from a window around it."""

    def __init__(
        self, checkpoint: str | None = None, device: str = "auto", context: int = 24, threads: int | None = None
    ):
        self.device = torch_device(device)
        self.model = _load("partial-unet", checkpoint, INPAINTER_ENV, "inpainter-cpu.pt", self.device, threads)
        self.multiple = 2 ** len(self.model.encoder)
        self.first_fill = TeleaInpainter(grain=False)
        self.context = context

    def inpaint(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fills the holes of `pixels` in place (the executor passes its own copy) and returns it."""
        import torch

        for (y0, y1), (x0, x1) in hole_windows(mask, self.context):
            window, holes = pixels[y0:y1, x0:x1], mask[y0:y1, x0:x1] > 0
            height, width = holes.shape
            pad = ((0, -height % self.multiple), (0, -width % self.multiple))
            image = np.pad(window, pad + ((0, 0),), mode="reflect" if min(height, width) > 1 else "edge")
            known = np.pad(~holes, pad, mode="reflect" if min(height, width) > 1 else "edge")
            with torch.inference_mode():
                tensor = _to_tensor(image, self.device)
                known_tensor = torch.from_numpy(known.astype(np.float32))[None, None].to(self.device)
                if self.model.residual:  # it corrects Telea's fill: make that first
                    base = self.first_fill.inpaint(image.copy(), (~known).astype(np.uint8) * 255)
                    output = self.model(tensor, known_tensor, _to_tensor(base, self.device)).clamp(0, 1)
                else:
                    output = self.model(tensor, known_tensor).clamp(0, 1)
            filled = (output[0].permute(1, 2, 0).cpu().numpy()[:height, :width] * 255).round().astype(np.uint8)
            window[holes] = filled[holes]
        return pixels
