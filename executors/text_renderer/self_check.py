"""The renderer's self-check: the finished image read again, block by block, as a reader would see it.

After every translation is drawn, Tesseract reads each drawn block in the target language and the area the
source text occupied in the source language (one Tesseract process per language and page). A block gets the
flag "illegible" when fewer than half of its translation's words (three letters or more) can be read back,
and "source_left" when a word of its source text (four letters or more, not also a word of the translation)
can still be read where the source was — what erasing missed. The flags reach the document and the CLI,
which lists them per page: the blocks a person should look at. Contrast and fit are checked while drawing
(flags "illegible" and "overflow"); this check sees what those cannot: letters no OCR can read, and source
lettering the eraser left behind.
"""

from __future__ import annotations

import concurrent.futures
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


def check_regions(
    engine: TesseractEngine,
    image: np.ndarray,
    regions: list[TextRegion],
    source_lang: str | None,
    target_lang: str | None,
) -> None:
    """Flag the drawn regions of `image` (RGB, as rendered) that read back badly: see the module."""
    drawn = [region for region in regions if len(region.drawn_box) == 4 and "untouched" not in region.flags]
    if not drawn:
        return
    translated = [set(_words(region.translation, 1)) for region in drawn]
    # Both languages at once: each Tesseract process is single-threaded (about 75 ms a block).
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        target = pool.submit(_read, engine, image, [region.drawn_box for region in drawn], target_lang)
        source = pool.submit(_read, engine, image, [region.box for region in drawn], source_lang)
        read_back, read_source = target.result(), source.result()
    for region, texts in zip(drawn, read_back or []):
        expected = _words(region.translation, TARGET_MIN_LENGTH)
        found = set(_words(texts, TARGET_MIN_LENGTH))
        if expected and sum(word in found for word in expected) < READ_BACK_SHARE * len(expected):
            region.add_flag("illegible")
    for region, texts, translation in zip(drawn, read_source or [], translated):
        source_words = [word for word in _words(region.text, SOURCE_MIN_LENGTH) if word not in translation]
        # Words read that belong to the translation are taken out: "protest" is no leftover in "protestaría".
        squeezed = "".join(word for word in _words(texts, 1) if word not in translation)
        if any(word in squeezed for word in source_words):
            region.add_flag("source_left")


def _read(engine: TesseractEngine, image: np.ndarray, boxes: list, language: str | None) -> list[str] | None:
    if not language:
        return None
    try:
        return engine.read_blocks(
            image, [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in boxes], language
        )
    except UnsupportedLanguageError:
        return None  # no Tesseract data for this language: nothing to read it with, so not checked (README)
