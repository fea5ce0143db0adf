"""The renderer's self-check: what a reader would see, read by Tesseract block by block.

- Read back: after every translation is drawn, each drawn block is read in the target language. A block
  gets the flag "illegible" when fewer than half of its translation's words (three letters or more) can be
  read back.
- Source left: the area each block's source text occupied is read in the source language in the erased
  image the renderer was given, before anything is drawn over it; a block gets the flag "source_left" when
  a word of its source (four letters or more, not also a word of the translation) can still be read there
  — what erasing missed. Read there rather than in the finished image, the area holds only what the eraser
  left, so the reading is quick (0.25 s a comic page instead of 0.65 s), starts while the renderer is still
  laying out, and is not confused by the translation drawn over it.

The flags reach the document and the CLI, which lists them per page: the blocks a person should look at.
Contrast and fit are checked while drawing (flags "illegible" and "overflow"); this check sees what those
cannot: letters no OCR can read, and source lettering the eraser left behind.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from transmodal.docs import TextRegion
from transmodal.errors import UnsupportedLanguageError
from transmodal.ocr.tesseract import TesseractEngine

SOURCE_MIN_LENGTH = 4  # shorter source words are found inside other text by chance
TARGET_MIN_LENGTH = 3
READ_BACK_SHARE = 0.5  # of a translation's words that must be read back

_LETTERS = re.compile(r"[^\W\d_]+")


def _words(text: str | None, min_length: int) -> list[str]:
    """Lower-case words without accents: Tesseract may read "PROTESTARÍA" as "PROTESTARIA"."""
    folded = unicodedata.normalize("NFKD", (text or "").casefold())
    folded = "".join(char for char in folded if not unicodedata.combining(char))
    return [word for word in _LETTERS.findall(folded) if len(word) >= min_length]


def _drawn(region: TextRegion) -> bool:
    return len(region.drawn_box) == 4 and "untouched" not in region.flags


def read_sources(
    engine: TesseractEngine, erased: np.ndarray, regions: list[TextRegion], source_lang: str | None
) -> list[str] | None:
    """What can be read where each region's source text was, in the erased image (RGB, nothing drawn yet);
    "" for an untouched region; None when the source language cannot be read."""
    readable = [index for index, region in enumerate(regions) if "untouched" not in region.flags]
    texts = _read(engine, erased, [regions[index].box for index in readable], source_lang)
    if texts is None:
        return None
    found = [""] * len(regions)
    for index, text in zip(readable, texts):
        found[index] = text
    return found


def flag_source_left(regions: list[TextRegion], readings: list[str] | None) -> None:
    """Flag the drawn regions whose source can still be read (`read_sources`)."""
    for region, text in zip(regions, readings or []):
        if not _drawn(region):
            continue
        translation = set(_words(region.translation, 1))
        source_words = [word for word in _words(region.text, SOURCE_MIN_LENGTH) if word not in translation]
        # Words read that belong to the translation are taken out: "protest" is no leftover in "protestaría".
        squeezed = "".join(word for word in _words(text, 1) if word not in translation)
        if any(word in squeezed for word in source_words):
            region.add_flag("source_left")


def flag_illegible(
    engine: TesseractEngine, image: np.ndarray, regions: list[TextRegion], target_lang: str | None
) -> None:
    """Flag the drawn regions of `image` (RGB, as rendered) whose translation cannot be read back."""
    drawn = [region for region in regions if _drawn(region)]
    # Two Tesseract processes at once, each single-threaded (about 45 ms a block): both cores busy.
    read_back = _read(engine, image, [region.drawn_box for region in drawn], target_lang, processes=2)
    for region, text in zip(drawn, read_back or []):
        expected = _words(region.translation, TARGET_MIN_LENGTH)
        found = set(_words(text, TARGET_MIN_LENGTH))
        if expected and sum(word in found for word in expected) < READ_BACK_SHARE * len(expected):
            region.add_flag("illegible")


def check_regions(
    engine: TesseractEngine,
    image: np.ndarray,
    erased: np.ndarray,
    regions: list[TextRegion],
    source_lang: str | None,
    target_lang: str | None,
) -> None:
    """Both checks (see the module) at once: `image` as rendered, `erased` as it was before drawing."""
    flag_illegible(engine, image, regions, target_lang)
    flag_source_left(regions, read_sources(engine, erased, regions, source_lang))


def _read(
    engine: TesseractEngine, image: np.ndarray, boxes: list, language: str | None, processes: int = 1
) -> list[str] | None:
    if not language:
        return None
    try:
        return engine.read_blocks(
            image, [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in boxes], language, processes
        )
    except UnsupportedLanguageError:
        return None  # no Tesseract data for this language: nothing to read it with, so not checked (README)
