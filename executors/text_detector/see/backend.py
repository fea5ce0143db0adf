"""SEE as a TextDetector backend: one region per text line the model finds, read by its recogniser.

The shipped checkpoint (checkpoints/see-cpu.pt) is loaded by default; another one by path from
`with: backend_options: {checkpoint: PATH}` or the environment variable TRANSMODAL_SEE_CHECKPOINT.
The model reads digits and unaccented Latin letters, at most `max_length` (T) of them per line and
`max_lines` (N) lines per image: it is a small model for signs like house numbers and one-word labels.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from executors.text_detector.see import data
from executors.text_detector.see.model import SeeConfig, SeeModel, corners_in_pixels, read
from transmodal import languages
from transmodal.docs import TextRegion, TextStyle
from transmodal.errors import ModelNotFoundError, UnsupportedLanguageError
from transmodal.models import torch_device

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "see-cpu.pt")
ENV_VAR = "TRANSMODAL_SEE_CHECKPOINT"

# Languages written in the Latin alphabet: the model reads their unaccented letters.
LATIN_SCRIPT_LANGUAGES = {
    "bs", "ca", "cs", "da", "de", "en", "eo", "es", "et", "eu", "fi", "fr", "gl", "hr", "hu", "id", "is", "it",
    "lt", "lv", "nl", "no", "pl", "pt", "ro", "sk", "sl", "sv", "tr", "vi",
}


def _read_checkpoint(path: str, device: str = "cpu") -> dict:
    if not os.path.isfile(path):
        raise ModelNotFoundError(
            f"SEE checkpoint {path!r} not found: set `with: backend_options: {{checkpoint: PATH}}` or "
            f"{ENV_VAR}, or train one with `transmodal train see`"
        )
    return torch.load(path, map_location=device, weights_only=True)


def checkpoint_config(path: str) -> SeeConfig:
    """The model config saved in a checkpoint, without building the model."""
    return SeeConfig.from_dict(_read_checkpoint(path)["config"])


def load_checkpoint(path: str, device: str = "cpu") -> SeeModel:
    """A SEE model, in eval mode, from a checkpoint written by `train.py` (model config + weights)."""
    saved = _read_checkpoint(path, device)
    model = SeeModel(SeeConfig.from_dict(saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()


class SeeDetector:
    """TextDetector backend: `detect(pixels, language) -> list[TextRegion]`, one region per line read."""

    def __init__(self, checkpoint: str | None = None, device: str = "auto", threads: int | None = None):
        self.checkpoint = checkpoint or os.environ.get(ENV_VAR) or DEFAULT_CHECKPOINT
        self.device = torch_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.model = load_checkpoint(self.checkpoint, self.device)

    def check_language(self, language: str) -> None:
        if language not in LATIN_SCRIPT_LANGUAGES:
            raise UnsupportedLanguageError(
                f"the SEE model reads digits and Latin letters only, not {languages.name(language)} "
                f"({language}); use backend 'tesseract' or 'rapidocr+tesseract'"
            )

    @torch.inference_mode()
    def detect(self, pixels: np.ndarray, language: str) -> list[TextRegion]:
        self.check_language(language)
        height, width = pixels.shape[:2]
        output = self.model(data.to_tensor([np.ascontiguousarray(pixels)]).to(self.device))
        (lines,) = read(output.logits.cpu())
        (quads,) = corners_in_pixels(output.transforms.cpu(), width, height)
        regions = []
        for (text, confidence), quad in zip(lines, quads):
            if not text:  # a region without a line reads only blanks
                continue
            quad = quad.clamp(min=torch.tensor([0.0, 0.0]), max=torch.tensor([float(width), float(height)]))
            x0, y0 = quad.min(0).values.tolist()
            x1, y1 = quad.max(0).values.tolist()
            regions.append(TextRegion(
                polygon=quad.tolist(),  # top-left, top-right, bottom-right, bottom-left: clockwise
                lines=[[x0, y0, x1, y1]],
                text=text,
                confidence=confidence,
                style=TextStyle(font_size=y1 - y0),
            ))
        return regions
