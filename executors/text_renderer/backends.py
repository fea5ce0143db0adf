"""Text layout backends: fit a text into an area of any shape at the largest size that fits, then draw it.

An area is a boolean mask (True where text may go): a speech balloon's inside, a caption box, a box on a
photo, less whatever other blocks cover. `fit(text, font_path, area, max_size, min_size, ...) -> Layout |
None`, `layout(...)` at one size, and `draw(image, layout, x0, y0, fill, stroke_fill)`. The executor builds
the area, picks the colours, clips and checks; a backend only measures, wraps and draws glyphs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from transmodal import fonts
from transmodal.backends import Registry
from transmodal.stages import Layout, TextLayout

LAYOUTS: Registry[TextLayout] = Registry("text layout")

# Scripts written without spaces, which break between any two characters: CJK ideographs, kana, fullwidth.
NO_SPACE_CHARS = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
TOKEN = re.compile(rf"\s+|[{NO_SPACE_CHARS}]|[^\s{NO_SPACE_CHARS}]+")
NO_SPACE = re.compile(rf"[{NO_SPACE_CHARS}]")
# Punctuation that must not start a line (Japanese kinsoku shori, and the Latin equivalents).
NO_LINE_START = set("、。，．,.!?！？:;：；)]}）」』】〉》〕ー…・ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ")
VOWELS = set("aeiouyáéíóúýàèìòùâêîôûäëïöüåæøœãõěůаеёиоуыэюяіїєαεηιουω")
# Hyphenation is worth it only where it buys a clearly larger size than wrapping at word breaks.
HYPHENATION_GAIN = 1.15


def tokens(text: str) -> list[tuple[str, bool]]:
    """(piece, preceded by a space) for each unit a line may break between: words, or single CJK characters.

    Closing punctuation is glued to the piece before it, so no line starts with "、" or ".".
    """
    pieces: list[tuple[str, bool]] = []
    space = newline = False
    for match in TOKEN.finditer(text):
        piece = match.group()
        if piece.isspace():
            space, newline = True, "\n" in piece
            continue
        if newline and pieces and NO_SPACE.match(pieces[-1][0][-1]) and NO_SPACE.match(piece[0]):
            space = False  # a line break inside CJK text joins the characters, it is no word space
        if pieces and not space and piece[0] in NO_LINE_START:
            pieces[-1] = (pieces[-1][0] + piece, pieces[-1][1])
        else:
            pieces.append((piece, space and bool(pieces)))
        space = newline = False
    return pieces


def hyphenation_points(word: str) -> list[int]:
    """Where `word` may be split with a hyphen, by a rule that suits most European languages well enough for
    the rare word that needs it: before the consonant that starts a syllable (the one before a vowel, or
    the "sch", "ch", "th"... that spells one sound, or the "tr", "pl"... that starts one), with two letters
    left on each side; and after a hyphen the word already has."""
    points = {index + 1 for index, char in enumerate(word[:-1]) if char == "-" and index >= 1}
    lower = word.lower()
    for index in range(1, len(word) - 1):
        char, after = lower[index], lower[index + 1]
        if not (char.isalpha() and char not in VOWELS and after.isalpha() and after in VOWELS):
            continue
        start = index
        for cluster in ("sch", "ch", "sh", "th", "ph", "gh", "ck"):
            if lower[max(0, index + 1 - len(cluster)) : index + 1] == cluster:
                start = index + 1 - len(cluster)
                break
        else:
            if char in "lr" and lower[index - 1] in "bcdfgkpt":  # "tr", "pl"... start a syllable together
                start = index - 1
        if (
            start >= 2
            and len(word) - start >= 2
            and lower[start - 1].isalpha()
            and any(letter in VOWELS for letter in lower[:start])
        ):
            points.add(start)
    return sorted(points)


# How many fonts at a size keep their measures (`_measure`), and how many lines each keeps.
MEASURES_KEPT, MEASURED_LINES_KEPT = 64, 20000


class _Measure:
    """Lengths and ink extents of lines at one font size, cached: wrapping measures the same prefixes many
    times. Wrapping goes by advance widths, which are ten times quicker to get than ink boxes; the lines
    chosen are then checked by their ink.

    Lines run along the rows of the area for horizontal text. Vertical text is laid out the same way in the
    area transposed and mirrored (its rows are the columns, right to left), so one wrapping code serves both.
    """

    def __init__(self, font: ImageFont.FreeTypeFont, vertical: bool, stroke_width: int):
        self.font, self.vertical, self.stroke_width = font, vertical, stroke_width
        self._cache: dict[str, tuple[float, float, float, float]] = {}
        self._advances: dict[str, float] = {}

    def advance(self, line: str) -> float:
        """The line's advance width (height, for vertical text), outline included: its ink length but for
        side bearings, which are small and mostly inside it."""
        if len(self._advances) > MEASURED_LINES_KEPT:  # (kept across pages: bounded)
            self._advances.clear()
            self._cache.clear()
        if line not in self._advances:
            direction = "ttb" if self.vertical else None
            self._advances[line] = self.font.getlength(line, direction=direction) + 2 * self.stroke_width
        return self._advances[line]

    def bbox(self, line: str) -> tuple[float, float, float, float]:
        if line not in self._cache:
            if self.vertical:
                self._cache[line] = self.font.getbbox(
                    line, direction="ttb", anchor="mt", stroke_width=self.stroke_width
                )
            else:
                self._cache[line] = self.font.getbbox(line, anchor="ls", stroke_width=self.stroke_width)
        return self._cache[line]

    def along(self, line: str) -> tuple[float, float]:
        """Ink start and end along the line, relative to the line's anchor."""
        left, top, right, bottom = self.bbox(line)
        return (top, bottom) if self.vertical else (left, right)

    def across(self, line: str) -> tuple[float, float]:
        """Ink extent across the line, relative to the anchor, in the (mirrored, for vertical) row space."""
        left, top, right, bottom = self.bbox(line)
        return (-right, -left) if self.vertical else (top, bottom)

    def length(self, line: str) -> float:
        start, end = self.along(line)
        return end - start


@functools.lru_cache(maxsize=MEASURES_KEPT)
def _measure(font_path: str, size: int, vertical: bool, stroke_width: int) -> _Measure:
    """The measures of a font at a size, kept across layouts: a page's blocks are laid out at the same few
    sizes, each twice (once to settle the page's size, once to draw), and so measure the same lines."""
    return _Measure(fonts.load_font(font_path, size), vertical, stroke_width)


class _Space:
    """An area seen as rows along which lines run (for vertical text, its columns right to left), with the
    free run of any band of rows, cached: a size search asks for the same bands many times.

    Every line's run contains the middle of the area's widest row, so that the lines form one block: none
    is set beside another block that cuts into the area (a second text in the same balloon), out of the
    reading order.
    """

    def __init__(self, area: np.ndarray, vertical: bool):
        self.vertical = vertical
        rows = area.T[::-1] if vertical else area
        self.height = rows.shape[0]
        # blocked[r] counts, per column, the blocked pixels in rows above r: a band is free where it adds none.
        self._blocked = np.vstack([np.zeros((1, rows.shape[1]), np.int32), np.cumsum(~rows, axis=0, dtype=np.int32)])
        blocked = ~rows
        self.empty = not rows.any()
        self._runs: dict[tuple[int, int], tuple[int, int]] = {}
        if self.empty:
            return
        # The middle: the centre of the area's tall columns (a balloon's tail, a short column, pulls it not).
        heights = rows.sum(axis=0)
        tall = np.flatnonzero(heights >= 0.5 * heights.max())
        self.middle = int((tall[0] + tall[-1]) // 2)
        # Each row's free run through the middle; the block is centred on the longest stretch of rows whose
        # run is at least half the widest, so it sits in the wide part of the area, clear of other blocks.
        width = rows.shape[1]
        left, right = blocked[:, : self.middle], blocked[:, self.middle :]
        starts = np.where(left.any(axis=1), self.middle - np.argmax(left[:, ::-1], axis=1), 0)
        ends = np.where(right.any(axis=1), self.middle + np.argmax(right, axis=1), width)
        lengths = np.where(blocked[:, self.middle], 0, ends - starts)
        if lengths.max() == 0:
            self.empty = True
            return
        wide = np.concatenate(([0], (lengths >= 0.5 * lengths.max()).astype(np.int8), [0]))
        edges = np.diff(wide)
        first_rows, last_rows = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int(np.argmax(last_rows - first_rows))
        self.centre = (first_rows[longest] + last_rows[longest]) / 2
        widest_row = int(np.argmax(lengths))
        self.widest = (int(starts[widest_row]), int(ends[widest_row]))

    def run(self, top: int, bottom: int) -> tuple[int, int]:
        """[start, end) of the columns free in every row of [top, bottom), around the middle ((0, 0) if the
        middle is not free)."""
        if top < 0 or bottom > self.height:
            return 0, 0
        if (top, bottom) not in self._runs:
            blocked = self._blocked[bottom] != self._blocked[top]
            if blocked[self.middle]:
                self._runs[top, bottom] = (0, 0)
            else:
                before = np.flatnonzero(blocked[: self.middle])
                after = np.flatnonzero(blocked[self.middle :])
                self._runs[top, bottom] = (
                    int(before[-1]) + 1 if len(before) else 0,
                    self.middle + int(after[0]) if len(after) else len(blocked),
                )
        return self._runs[top, bottom]


@LAYOUTS.register("pillow")
class PillowLayout:
    """Pillow with libraqm: real shaping (ligatures, Arabic joining, vertical CJK forms), greedy wrapping to
    the width the area has at each line (shorter lines near the top and bottom of a balloon), then balanced
    line lengths so a block has no stray one-word last line."""

    def __init__(self, balance: bool = True):
        self.balance = balance

    def wrap(
        self,
        pieces: list[tuple[str, bool]],
        limits: list[float],
        measure: _Measure,
        hyphenate: Callable[[str], list[int]] | None,
        break_words: bool,
    ) -> list[str] | None:
        """Greedy wrapping of `pieces` into at most len(limits) lines, line i at most limits[i] long; None if
        they do not go in. A word longer than its whole line is hyphenated (with `hyphenate`) or cut between
        characters (with `break_words`); otherwise words are never split."""
        lines: list[str] = []
        line = ""
        queue = list(reversed(pieces))
        while queue:
            if len(lines) >= len(limits):
                return None
            limit = limits[len(lines)]
            piece, space = queue.pop()
            candidate = line + (" " if space and line else "") + piece
            if measure.advance(candidate) <= limit:
                line = candidate
                continue
            if line:  # the next line, where the word may fit
                lines.append(line)
                line = ""
                queue.append((piece, space))
                continue
            # A word longer than the line on its own: the longest part that fits, hyphenated, then cut.
            split = None
            for point in reversed(hyphenate(piece) if hyphenate else []):
                head = piece[:point] if piece[point - 1] == "-" else piece[:point] + "-"
                if measure.advance(head) <= limit:
                    split = (head, piece[point:])
                    break
            if split is None and break_words and len(piece) > 1:
                cut = len(piece) - 1
                while cut > 1 and measure.advance(piece[:cut]) > limit:
                    cut -= 1
                split = (piece[:cut], piece[cut:])
            if split is None:
                return None
            lines.append(split[0])
            queue.append((split[1], False))
        if line:
            lines.append(line)
        return lines if len(lines) <= len(limits) else None

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
    ) -> Layout | None:
        """The text at `size`, wrapped to the area's shape, in as few lines as the shape allows.

        The block is centred across the area (on its wide part, not on a balloon's tail) and shifted by up
        to a line each way when that lets it fit. Every line's ink, outline included, lies inside the area.
        With `strict=False` it never fails: lines that leave the area take its widest run, to be clipped.
        """
        return self._layout(
            text,
            font_path,
            size,
            _Space(area, vertical),
            spacing,
            stroke_ratio,
            alignment,
            hyphenate,
            break_words,
            strict,
        )

    def _layout(
        self,
        text: str,
        font_path: str,
        size: int,
        space: _Space,
        spacing: float,
        stroke_ratio: float,
        alignment: str,
        hyphenate,
        break_words: bool,
        strict: bool,
    ) -> Layout | None:
        pieces = tokens(text)
        if not pieces or space.empty:
            return None
        measure = _measure(font_path, size, space.vertical, int(round(size * stroke_ratio)))
        font, stroke_width = measure.font, measure.stroke_width
        pitch = spacing * size
        # Every line's ink lies within this band around its anchor: the extent of all the text's characters.
        whole = " ".join(piece for piece, _ in pieces)
        band_top, band_bottom = measure.across("".join(sorted(set(whole) - {" "})))
        widest = space.widest[1] - space.widest[0]
        # Fewer lines cannot hold the text even at the widest (a space is less than half an em).
        min_count = max(1, int(measure.advance(whole) // (widest + 0.5 * size)))
        max_count = max(1, int((space.height - (band_bottom - band_top)) // pitch) + 1)
        if not strict:
            max_count = 10 * max_count + len(text)

        def runs(count: int, shift: float) -> list[tuple[int, int]] | None:
            """Each line's free run along the area for `count` lines centred on the area, `shift` lower."""
            first = space.centre - ((count - 1) * pitch + band_bottom - band_top) / 2 - band_top + shift
            result = []
            for index in range(count):
                anchor = first + index * pitch
                # A pixel of slack all round: glyphs drawn at fractional positions spread by up to one pixel.
                start, end = space.run(int(np.floor(anchor + band_top)) - 1, int(np.ceil(anchor + band_bottom)) + 1)
                start, end = start + 1, end - 1
                if end - start <= 0:
                    if strict:
                        return None
                    start, end = space.widest
                result.append((start, end))
            return result

        shifts = [0.0] if not strict else [0.0, -0.5 * pitch, 0.5 * pitch, -pitch, pitch]
        for count in range(min_count, max_count + 1):
            for shift in shifts:
                line_runs = runs(count, shift)
                if line_runs is None:
                    continue
                limits: list[float] = [end - start for start, end in line_runs]
                lines = self.wrap(pieces, limits, measure, hyphenate, break_words)
                if lines is None:
                    continue
                if self.balance and len(lines) > 1:
                    lines = self._balanced(pieces, limits, len(lines), measure, hyphenate, break_words) or lines
                if strict and any(measure.length(line) > limit for line, limit in zip(lines, limits)):
                    continue  # a glyph overhangs its advance (an italic f, a j): the ink does not fit
                first = space.centre - ((count - 1) * pitch + band_bottom - band_top) / 2 - band_top + shift
                origins = self._origins(
                    lines,
                    line_runs,
                    [first + index * pitch for index in range(len(lines))],
                    measure,
                    alignment,
                    space.height,
                )
                return Layout(font, size, lines, space.vertical, pitch, stroke_width, origins, strict)
        return None

    def _balanced(
        self, pieces, limits: list[float], count: int, measure: _Measure, hyphenate, break_words: bool
    ) -> list[str] | None:
        """The same number of lines, wrapped to the smallest fraction of each line's room that still needs
        no more of them: even lines in a box, lines that follow the curve in a balloon."""
        low, high, best = 0.3, 1.0, None
        while high - low > 0.02:
            middle = (low + high) / 2
            lines = self.wrap(pieces, [limit * middle for limit in limits[:count]], measure, hyphenate, break_words)
            if lines is not None and len(lines) == count:
                high, best = middle, lines
            else:
                low = middle
        return best

    def _origins(
        self,
        lines: list[str],
        line_runs: list[tuple[int, int]],
        anchors: list[float],
        measure: _Measure,
        alignment: str,
        height: int,
    ) -> list[tuple[float, float]]:
        """Anchor points of the lines, aligned in their runs, converted back from the row space to the area."""
        longest = max(measure.length(line) for line in lines)
        origins = []
        for line, (start, end), across in zip(lines, line_runs, anchors):
            ink_start, ink_end = measure.along(line)
            length = ink_end - ink_start
            if measure.vertical:  # columns start on one line, as in print, where their runs allow
                offset = max(start, min(start + (end - start - longest) / 2, end - length))
            elif alignment == "left":
                offset = start
            elif alignment == "right":
                offset = end - length
            else:
                offset = start + (end - start - length) / 2
            along = offset - ink_start
            # Vertical: row r of the mirrored transpose is column (height - r) of the area.
            origins.append((height - across, along) if measure.vertical else (along, across))
        return origins

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
    ) -> Layout | None:
        """The layout at the largest size in [min_size, max_size] that fits the area, or None if none fits.

        Words are split only when that buys a clearly larger size (HYPHENATION_GAIN) or is the only way in.
        """
        space = _Space(area, vertical)

        def search(split: Callable | None, low: int) -> Layout | None:
            def at(size: int) -> Layout | None:
                return self._layout(
                    text, font_path, size, space, spacing, stroke_ratio, alignment, split, break_words, True
                )

            if max_size < low:
                return None
            best = at(max_size)  # the common case once a page's size is settled: the cap fits
            if best is not None:
                return best
            # Fitting is monotone in size but for rare wrapping effects: a binary search finds the largest.
            high = max_size - 1
            while low <= high:
                size = (low + high) // 2
                layout = at(size)
                if layout is not None:
                    best, low = layout, size + 1
                else:
                    high = size - 1
            return best

        plain = search(None, min_size)
        if hyphenate is None:
            return plain
        floor = min_size if plain is None else int(np.ceil(HYPHENATION_GAIN * plain.size))
        return search(hyphenate, floor) or plain

    def draw(self, image: Image.Image, layout: Layout, x0: float, y0: float, fill, stroke_fill=None) -> None:
        """Draw the lines at their origins, the area's top-left corner at (x0, y0) in `image`."""
        draw = ImageDraw.Draw(image)
        stroke = (
            {"stroke_width": layout.stroke_width, "stroke_fill": stroke_fill}
            if layout.stroke_width and stroke_fill is not None
            else {}
        )
        for line, (x, y) in zip(layout.lines, layout.origins):
            if layout.vertical:
                draw.text((x0 + x, y0 + y), line, font=layout.font, fill=fill, direction="ttb", anchor="mt", **stroke)
            else:
                draw.text((x0 + x, y0 + y), line, font=layout.font, fill=fill, anchor="ls", **stroke)
