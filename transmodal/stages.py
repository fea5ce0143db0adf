"""What a backend of each stage must offer: one `typing.Protocol` per stage.

An executor holds one backend, picked by name from its Registry (transmodal.backends), and does the work
every backend shares itself: resolving languages, decoding and size checks, per-document errors, turning
lines into regions. A backend only does its engine's part and returns the stage's result type, so adding
one is one class plus a registry entry. Languages reach backends as normalised ISO 639-1 codes;
`check_language` (or `check_pair`) raises UnsupportedLanguageError before any expensive work.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from transmodal.docs import GeneratedImage
from transmodal.ocr.lines import Box, Line


class LanguageChecked(Protocol):
    def check_language(self, language: str) -> None: ...


class LineFinder(LanguageChecked, Protocol):
    """Finds text lines in an RGB uint8 image; may read them too (Tesseract does)."""

    def find_lines(self, pixels: np.ndarray, language: str) -> list[Line]: ...


class LineReader(LanguageChecked, Protocol):
    """Reads the text of given line boxes."""

    def read_lines(self, pixels: np.ndarray, boxes: list[Box], language: str) -> list[Line]: ...


class TextReader(LanguageChecked, Protocol):
    """A TextDetector backend: the lines of a page, read. The executor groups them into regions."""

    def read(self, pixels: np.ndarray, language: str) -> list[Line]: ...


class Inpainter(Protocol):
    """A TextEraser backend: fills the masked pixels (uint8 mask, 255 = fill) of an RGB image."""

    def inpaint(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


class Translator(Protocol):
    """A TextTranslator backend: one translation per text, in order."""

    def check_pair(self, source: str, target: str) -> None: ...

    def translate(self, texts: list[str], source: str, target: str) -> list[str]: ...


class Transcript(Protocol):
    text: str
    language: str
    segments: list[tuple[float, float, str]]
    translated_to: str | None


class Recognizer(Protocol):
    """A SpeechRecognizer backend: mono float32 samples at 16 kHz -> transcript; language None = detect."""

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript: ...


class Synthesizer(LanguageChecked, Protocol):
    """A SpeechSynthesizer backend: one sentence -> (mono float32 samples, sample rate)."""

    def speak(self, text: str, language: str) -> tuple[np.ndarray, int]: ...


class Generator(Protocol):
    """An ImageGenerator backend: for each prompt, one image per seed."""

    def generate(self, prompts: list[str], seeds: list[list[int]], settings) -> list[list[GeneratedImage]]: ...


class Captioner(Protocol):
    """An ImageCaptioner backend: one description per RGB image, "" when it finds nothing to say."""

    language: str  # the language its descriptions are in
    nothing_found: str  # why a description can come back empty, shown on that document's error

    def caption(self, images: Sequence[np.ndarray]) -> list[str]: ...
