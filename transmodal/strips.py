"""Text strips, the pixel translator's pictures: one line of text, black 14 px Noto Sans on white, left
aligned, in a 384 x 32 strip, as ink in [0, 1] (1 = black).

The paper ("Towards End-to-End In-Image Neural Machine Translation") draws 16 px sans-serif on 1024 x 32; a
CPU trains a narrower strip. Training draws its examples here (training/pixels), and the PixelTranslator
executor fits a line of a real image to the same geometry (`CAP_TOP`, `BASELINE`, `LEFT`) before the
network sees it.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

from transmodal import fonts

HEIGHT, WIDTH, FONT_SIZE, LEFT = 32, 384, 14, 4
FONT = ["NotoSans-Regular.ttf"]  # one face, never a fallback: the networks learned its letters (fonts-noto-core)


@functools.lru_cache(maxsize=1)
def _font():
    return fonts.load_font(fonts.font_path(FONT), FONT_SIZE)


def render(text: str) -> np.ndarray:
    """`text` as a strip of ink in [0, 1] (float32, HEIGHT x WIDTH), left aligned at LEFT pixels and placed
    by the font's ascent and descent (not by the text's own box), so a prefix of a text is drawn exactly
    where it stands in the whole text."""
    return _drawn(text).astype(np.float32) / 255.0


@functools.cache
def _drawn(text: str) -> np.ndarray:
    """The ink as uint8, kept: training draws the same few thousand prefixes again and again (3.5 ms each)."""
    font = _font()
    ascent, descent = font.getmetrics()
    page = Image.new("L", (WIDTH, HEIGHT), 255)
    ImageDraw.Draw(page).text((LEFT, (HEIGHT - ascent - descent) // 2), text, font=font, fill=0)
    ink = 255 - np.asarray(page, dtype=np.uint8)
    ink.flags.writeable = False
    return ink


def fits(text: str) -> bool:
    return _font().getlength(text) <= WIDTH - 2 * LEFT


def line_rows(ink: np.ndarray) -> tuple[int, int] | None:
    """(top, baseline) of a line's ink (rows, the baseline exclusive): the first row with ink and the last
    row still dense with it (a third of the busiest row's ink, at least), below which only descenders
    reach; None for no ink. The same rule measures the training strips and a real line, so that one can be
    scaled onto the other."""
    counts = (ink > 0.5).sum(1)
    if not counts.any():
        return None
    dense = np.flatnonzero(counts >= 0.3 * counts.max())
    return int(np.flatnonzero(counts)[0]), int(dense[-1]) + 1


# Where the ink's top and its baseline fall in a strip, measured on a line of capitals, ascenders and
# x-height letters: a line of a real image is scaled and moved so that its own land there.
CAP_TOP, BASELINE = line_rows(render("The bank is open")) or (0, HEIGHT)
