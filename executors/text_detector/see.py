"""SEE as a TextDetector backend: one line per text line the model finds, read by its recogniser.

The network is transmodal.nets.see; it is trained by training/see (`transmodal train see`).

The shipped checkpoint (checkpoints/see-cpu.pt) is loaded by default; another one by path from
`with: backend_options: {checkpoint: PATH}` or the environment variable TRANSMODAL_SEE_CHECKPOINT.
The model reads digits and unaccented Latin letters, at most `max_length` (T) of them per line and
`max_lines` (N) lines per image: it is a small model for signs like house numbers and one-word labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from transmodal import languages
from transmodal.errors import UnsupportedLanguageError
from transmodal.models import torch_device
from transmodal.nets.see import ENV_VAR, corners_in_pixels, load_checkpoint, read, to_tensor
from transmodal.ocr.lines import Line

DEFAULT_CHECKPOINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "see-cpu.pt")

# Languages written in the Latin alphabet: the model reads their unaccented letters.
LATIN_SCRIPT_LANGUAGES = {
    "bs",
    "ca",
    "cs",
    "da",
    "de",
    "en",
    "eo",
    "es",
    "et",
    "eu",
    "fi",
    "fr",
    "gl",
    "hr",
    "hu",
    "id",
    "is",
    "it",
    "lt",
    "lv",
    "nl",
    "no",
    "pl",
    "pt",
    "ro",
    "sk",
    "sl",
    "sv",
    "tr",
    "vi",
}


class SeeReader:
    """TextDetector backend: `read(pixels, language) -> list[Line]`, one line per region the model reads."""

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
    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]:  # (one pass finds and reads: nothing for `on_lines`)
        self.check_language(language)
        height, width = pixels.shape[:2]
        output = self.model(to_tensor([np.ascontiguousarray(pixels)]).to(self.device))
        (texts,) = read(output.logits.cpu())
        (quads,) = corners_in_pixels(output.transforms.cpu(), width, height)
        lines: list[Line] = []
        for (text, confidence), quad in zip(texts, quads):
            if not text:  # a region without a line reads only blanks
                continue
            quad = quad.clamp(min=torch.tensor([0.0, 0.0]), max=torch.tensor([float(width), float(height)]))
            x0, y0 = quad.min(0).values.tolist()
            x1, y1 = quad.max(0).values.tolist()
            # Each line its own block: the model separates lines itself.
            lines.append(Line(box=(x0, y0, x1, y1), text=text, confidence=confidence, block=len(lines)))
        return lines
