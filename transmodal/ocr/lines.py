"""Text lines as OCR engines find them, and the shared work that turns them into regions.

Every TextDetector backend returns `Line`s; `regions_from_lines` groups them into blocks, splits stacked
items into phrases and measures each block's style once, and `reading_order` sorts the regions. The
ImageCaptioner's `ocr` backend uses the same functions, so both read a page the same way.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Hashable
from typing import Optional

import numpy as np

from transmodal.docs import TextRegion, TextStyle
from transmodal.words import join_hyphenated

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclasses.dataclass
class Line:
    """One line of text (a column, for vertical text) as an engine found it."""

    box: Box
    text: str = ""
    confidence: float = 0.0  # 0..1
    block: Optional[Hashable] = None  # the engine's own paragraph id, when its layout analysis gives one
    angle: float = 0.0  # degrees the line slants as its finder saw it (0: level, or a finder of level boxes)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def vertical(self) -> bool:
        # A column of several characters is much taller than wide; a horizontal line never is.
        return len(self.text.strip()) >= 2 and self.height >= 1.5 * self.width


def crop_line(pixels: np.ndarray, box: Box, margin: float = 0.15, vertical_margin: float | None = None) -> np.ndarray:
    """The line's pixels with a margin of 15 % of its height: recognisers misread glyphs cut at the edge.
    `vertical_margin`, when given, replaces `margin` above and below the line."""
    x0, y0, x1, y1 = box
    pad = margin * min(x1 - x0, y1 - y0)
    vertical_pad = pad if vertical_margin is None else vertical_margin * min(x1 - x0, y1 - y0)
    height, width = pixels.shape[:2]
    top, bottom = max(0, int(y0 - vertical_pad)), min(height, int(np.ceil(y1 + vertical_pad)))
    left, right = max(0, int(x0 - pad)), min(width, int(np.ceil(x1 + pad)))
    return pixels[top : max(bottom, top + 1), left : max(right, left + 1)]


def merge_line_fragments(boxes: list[Box]) -> list[Box]:
    """Join boxes that are pieces of one line (side by side, overlapping or close, on the same baseline).

    RapidOCR's detector sometimes splits a line with wide letter spacing into overlapping pieces, whose
    texts would then repeat the letters in the overlap ("Good d morning").
    """
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _same_line(merged[i], merged[j]):
                    merged[i] = union([merged[i], merged[j]])
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


def _same_line(a: Box, b: Box) -> bool:
    if all(box[3] - box[1] >= 1.5 * (box[2] - box[0]) for box in (a, b)):
        return False  # two columns of vertical text side by side, not pieces of one horizontal line
    height = min(a[3] - a[1], b[3] - b[1])
    vertical_overlap = min(a[3], b[3]) - max(a[1], b[1])
    horizontal_gap = max(a[0], b[0]) - min(a[2], b[2])
    return vertical_overlap >= 0.6 * height and horizontal_gap <= 0.5 * height


# Languages that capitalise nouns: a capital at a line's start does not mean a new phrase.
NOUN_CAPITALISING_LANGUAGES = {"de", "lb"}


def regions_from_lines(lines: list[Line], language: str = "en") -> list[TextRegion]:
    """One region per phrase of a block of lines; lines without any letter or digit (noise read as '|', '~')
    are dropped."""
    lines = [line for line in lines if has_words(line.text)]
    regions = []
    for block in group_into_blocks(lines):
        # Phrases keep their block's alignment: "No smoking" under "Emergency exit" stays left-aligned.
        alignment = block_alignment(block)
        phrases = [block] if language in NOUN_CAPITALISING_LANGUAGES else split_phrases(block)
        regions += [region_from_block(phrase, alignment, language) for phrase in phrases]
    return regions


def has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


def group_into_blocks(lines: list[Line]) -> list[list[Line]]:
    """Blocks from the engine's paragraph ids where it gives them, else from geometry (`_same_block`)."""
    blocks: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: (line.box[1], line.box[0])):
        if line.block is not None:
            joined = [block for block in blocks if block[0].block == line.block]
        else:
            # Lines the engine (or a container) grouped stay in their group: geometry joins free lines only.
            joined = [
                block
                for block in blocks
                if block[0].block is None
                and any(_same_block(other, line) for other in block)
                and _keeps_spacing(block, line)
            ]
        blocks = [block for block in blocks if all(block is not other for other in joined)]
        blocks.append([line] + [other for block in joined for other in block])
    return blocks


# A line ending in one of these (or in , - : ;) goes on into the next, whatever the next line's first letter.
CONTINUATION_WORDS = {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}


def split_phrases(block: list[Line]) -> list[list[Line]]:
    """A block split where a new phrase starts: a line beginning with a capital after a line that does not
    run on. On signs and menus, stacked lines are often separate items ("Hot soup" / "Cold drinks") that
    translate wrongly as one sentence; a sentence wrapped over lines goes on in lower case. All-capital
    text and scripts without case give no such signal and stay one block."""
    lines = sorted(block, key=lambda line: line.box[1])
    if len(lines) < 2 or any(line.vertical for line in lines):
        return [block]
    phrases = [[lines[0]]]
    right_edge = max(line.box[2] for line in lines)
    for previous, line in zip(lines, lines[1:]):
        words = previous.text.rstrip().split()
        runs_on = (
            previous.text.rstrip()[-1:] in ",-:;"
            or (words and words[-1].lower() in CONTINUATION_WORDS)
            or _fills_measure(previous, right_edge)
        )
        first = next((char for char in line.text if char.isalpha()), "")
        starts_phrase = first.isupper() and not line.text.isupper() and not previous.text.isupper()
        if starts_phrase and not runs_on:
            phrases.append([line])
        else:
            phrases[-1].append(line)
    return phrases


def _fills_measure(line: Line, right_edge: float) -> bool:
    """A line of running text that reaches the block's right edge (within a line's height) without ending
    its sentence: the typesetter broke it there because it was full, and the next line goes on with the
    sentence, whatever its first letter (a misread one included). Items stacked on a sign are short: a
    line of at least four words is taken for running text."""
    text = line.text.rstrip()
    return len(text.split()) >= 4 and text[-1:] not in ".!?" and line.box[2] >= right_edge - line.height


def _keeps_spacing(block: list[Line], line: Line) -> bool:
    """Whether `line` follows the block's lines at the block's own spacing. A paragraph's lines come at a
    steady pitch; a line set off by a gap clearly larger than the usual one is the next item (a code
    sample or a caption under a paragraph, a heading above it), even when that gap is under a line's
    height. A block of one line has no spacing yet: anything `_same_block` accepts joins it."""
    if len(block) < 2 or line.vertical or any(other.vertical for other in block):
        return True
    rows = sorted(block, key=lambda other: other.box[1])
    gaps = [below.box[1] - above.box[3] for above, below in zip(rows, rows[1:])]
    height = statistics.median(other.height for other in block)
    # The gap to the block's nearest line above or below.
    neighbour_gaps = [line.box[1] - other.box[3] for other in rows if other.box[1] < line.box[1]][-1:]
    neighbour_gaps += [other.box[1] - line.box[3] for other in rows if other.box[1] >= line.box[1]][:1]
    gap = min(neighbour_gaps)
    return gap <= statistics.median(gaps) + 0.5 * height


def _same_block(a: Line, b: Line) -> bool:
    """Neighbouring lines of one paragraph: same size, close one after the other, overlapping sideways."""
    if a.vertical != b.vertical:
        return False
    if a.vertical:  # columns: the same tests with x and y swapped
        a = Line(box=(a.box[1], a.box[0], a.box[3], a.box[2]))
        b = Line(box=(b.box[1], b.box[0], b.box[3], b.box[2]))
    if not 0.7 <= b.height / max(a.height, 1) <= 1.4:
        return False
    gap = max(a.box[1], b.box[1]) - min(a.box[3], b.box[3])
    sideways_overlap = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
    return gap <= min(a.height, b.height) and sideways_overlap > 0


def block_alignment(lines: list[Line]) -> str:
    if all(line.vertical for line in lines):
        return "left"
    return estimate_alignment(lines, statistics.median(line.height for line in lines))


def region_from_block(lines: list[Line], alignment: str | None = None, language: str = "en") -> TextRegion:
    vertical = all(line.vertical for line in lines)
    # Reading order inside the block: rows top to bottom; vertical columns right to left.
    lines = sorted(lines, key=lambda line: -line.box[0] if vertical else line.box[1])
    x0, y0, x1, y1 = union([line.box for line in lines])
    texts = [line.text for line in lines]
    font_size = statistics.median(line.width if vertical else line.height for line in lines)
    angle = statistics.median(line.angle for line in lines)
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[[float(v) for v in line.box] for line in lines],
        text=join_hyphenated(texts, language),
        confidence=weighted_confidence(texts, [line.confidence for line in lines]),
        style=TextStyle(
            font_size=float(font_size),
            direction="vertical" if vertical else "horizontal",
            alignment=alignment or block_alignment(lines),
            angle=float(angle),
        ),
    )


def estimate_alignment(lines: list[Line], font_size: float) -> str:
    """'left', 'center' or 'right': the edge the lines line up on. A single line, or lines of equal length,
    read as centred: a translation of another length then stays where the eye found the original (signs,
    speech balloons), rather than drifting to one side of it."""
    if len(lines) < 2:
        return "center"
    spreads = {
        "center": np.ptp([(line.box[0] + line.box[2]) / 2 for line in lines]),
        "left": np.ptp([line.box[0] for line in lines]),
        "right": np.ptp([line.box[2] for line in lines]),
    }
    # Lines of equal length line up on every edge: prefer the first, within a quarter of a line height.
    best = min(spreads.values())
    return next(name for name, spread in spreads.items() if spread <= best + 0.25 * font_size)


def union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def weighted_confidence(texts: list[str], confidences: list[float]) -> float:
    """Mean confidence weighted by length, so a misread one-letter word weighs less than a long one."""
    weights = [max(len(text), 1) for text in texts]
    return float(np.clip(np.average(confidences, weights=weights), 0.0, 1.0)) if confidences else 0.0


def reading_order(regions: list[TextRegion]) -> list[TextRegion]:
    """Top to bottom; regions side by side (one starts above the other's middle) left to right."""
    rows: list[list[TextRegion]] = []
    for region in sorted(regions, key=lambda region: region.box[1]):
        if rows:
            x0, y0, x1, y1 = rows[-1][0].box
            if region.box[1] < (y0 + y1) / 2:
                rows[-1].append(region)
                continue
        rows.append([region])
    return [region for row in rows for region in sorted(row, key=lambda region: region.box[0])]
