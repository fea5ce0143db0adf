"""What a backend of each stage must offer: one `typing.Protocol` per stage.

An executor holds one backend, picked by name from its Registry (transmodal.backends), and does the work
every backend shares itself: resolving languages, decoding and size checks, per-document errors, turning
lines into regions. A backend only does its engine's part and returns the stage's result type, so adding
one is one class plus a registry entry. Languages reach backends as normalised ISO 639-1 codes;
`check_language` (or `check_pair`) raises UnsupportedLanguageError before any expensive work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Optional, Protocol

import numpy as np
from PIL import Image, ImageFont

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
    """A TextDetector backend: the lines of a page, read. The executor groups them into regions.

    `on_lines`, when given, is called with the lines (boxes, no text yet) as soon as they are found, where
    reading them takes more time still: the executor looks for their containers meanwhile."""

    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]: ...


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
    language_probability: float | None  # when the language was detected
    warnings: list[str]  # what a person should check (a language given that the speech is not)


@dataclasses.dataclass
class Layout:
    font: ImageFont.FreeTypeFont
    size: int
    lines: list[str]  # rows, or for vertical text, columns (drawn right to left)
    vertical: bool
    pitch: float  # distance between baselines (or column centres)
    stroke_width: int
    # Where each line is drawn, in the area's coordinates: its baseline's left end ("ls" anchor), or for
    # vertical text its column's top centre ("mt").
    origins: list[tuple[float, float]]
    fits: bool  # False when even the smallest size overflows the area: drawn anyway, clipped, never dropped


class TextLayout(Protocol):
    """A TextRenderer backend: wraps a text into an area's shape (a uint8 mask, 255 = free) and draws it.
    The executor decides sizes, fonts, obstacles, colours and the self-check."""

    def fit(
        self,
        text: str,
        font_path: str,
        area: np.ndarray,
        max_size: int,
        min_size: int,
        vertical: bool = False,
        spacing: float = 1.2,
        stroke_ratio: float = 0.0,
        alignment: str = "center",
        hyphenate: Callable[[str], list[int]] | None = None,
        break_words: bool = False,
    ) -> Optional[Layout]: ...

    def layout(
        self,
        text: str,
        font_path: str,
        size: int,
        area: np.ndarray,
        vertical: bool = False,
        spacing: float = 1.2,
        stroke_ratio: float = 0.0,
        alignment: str = "center",
        hyphenate: Callable[[str], list[int]] | None = None,
        break_words: bool = False,
        strict: bool = True,
    ) -> Optional[Layout]: ...

    def draw(self, image: Image.Image, layout: Layout, x0: float, y0: float, fill, stroke_fill=None) -> None: ...


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
