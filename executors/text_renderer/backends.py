"""Text layout backends: fit a text into a box at the largest size that fits, then draw it.

`fit(text, font_path, box_width, box_height, max_size, min_size, ...) -> Layout | None` and
`draw(image, layout, x0, y0, box_width, box_height, alignment, color, outline_color)`. The executor picks the
box, the colours and the outline; a backend only measures and draws glyphs.
"""

from __future__ import annotations

import dataclasses
import re

from PIL import Image, ImageDraw, ImageFont

from transmodal import fonts
from transmodal.backends import Registry

LAYOUTS: Registry = Registry("text layout")

# Scripts written without spaces, which break between any two characters: CJK ideographs, kana, fullwidth.
NO_SPACE_CHARS = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
TOKEN = re.compile(rf"\s+|[{NO_SPACE_CHARS}]|[^\s{NO_SPACE_CHARS}]+")
NO_SPACE = re.compile(rf"[{NO_SPACE_CHARS}]")
# Punctuation that must not start a line (Japanese kinsoku shori, and the Latin equivalents).
NO_LINE_START = set("、。，．,.!?！？:;：；)]}）」』】〉》〕ー…・ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ")


@dataclasses.dataclass
class Layout:
    font: ImageFont.FreeTypeFont
    size: int
    lines: list[str]  # rows, or for vertical text, columns (drawn right to left)
    vertical: bool
    pitch: float  # distance between baselines (or column centres)
    stroke_width: int
    width: int  # ink extent of the whole block
    height: int
    fits: bool  # False when even the smallest size overflows the box: drawn anyway, never dropped


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


@LAYOUTS.register("pillow")
class PillowLayout:
    """Pillow with libraqm: real shaping (ligatures, Arabic joining, vertical CJK forms), greedy wrapping,
    then balanced line lengths so a block has no stray one-word last line."""

    def __init__(self, balance: bool = True):
        self.balance = balance

    def wrap(self, pieces: list[tuple[str, bool]], font: ImageFont.FreeTypeFont, limit: float,
             vertical: bool, break_words: bool) -> list[str]:
        """Greedy wrapping of `pieces` to lines whose advance is at most `limit` pixels."""
        direction = "ttb" if vertical else None
        lines: list[str] = []
        line = ""
        for piece, space in pieces:
            candidate = line + (" " if space and line else "") + piece
            if not line or font.getlength(candidate, direction=direction) <= limit:
                line = candidate
            else:
                lines.append(line)
                line = piece
            # A single word longer than the line: cut it between characters when that is allowed.
            while break_words and len(line) > 1 and font.getlength(line, direction=direction) > limit:
                cut = len(line) - 1
                while cut > 1 and font.getlength(line[:cut], direction=direction) > limit:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        if line:
            lines.append(line)
        return lines

    def measure(self, font: ImageFont.FreeTypeFont, lines: list[str], vertical: bool, pitch: float,
                stroke_width: int) -> tuple[int, int]:
        """Ink width and height of the block of `lines`."""
        if vertical:
            boxes = [font.getbbox(line, direction="ttb", anchor="mt", stroke_width=stroke_width) for line in lines]
            column_width = max(box[2] - box[0] for box in boxes)
            return int(round((len(lines) - 1) * pitch + column_width)), max(box[3] - box[1] for box in boxes)
        boxes = [font.getbbox(line, anchor="ls", stroke_width=stroke_width) for line in lines]
        width = max(box[2] - box[0] for box in boxes)
        top, bottom = boxes[0][1], (len(lines) - 1) * pitch + boxes[-1][3]
        return width, int(round(bottom - top))

    def layout(self, text: str, font_path: str, size: int, box_width: float, box_height: float,
               vertical: bool, spacing: float, stroke_ratio: float, break_words: bool) -> Layout:
        font = fonts.load_font(font_path, size)
        stroke_width = int(round(size * stroke_ratio))
        pitch = spacing * size
        pieces = tokens(text)
        # Glyphs are measured without the outline; the outline's width is taken off the line length.
        limit = (box_height if vertical else box_width) - 2 * stroke_width
        lines = self.wrap(pieces, font, limit, vertical, break_words)
        width, height = self.measure(font, lines, vertical, pitch, stroke_width)
        fits = width <= box_width and height <= box_height
        if fits and self.balance and len(lines) > 1:
            lines = self._balanced(pieces, font, limit, len(lines), vertical, break_words)
            width, height = self.measure(font, lines, vertical, pitch, stroke_width)
        return Layout(font, size, lines, vertical, pitch, stroke_width, width, height, fits)

    def _balanced(self, pieces, font, limit: float, count: int, vertical: bool, break_words: bool) -> list[str]:
        """The same number of lines, wrapped to the shortest length that still needs no more of them."""
        low, high = 1.0, float(limit)
        best = self.wrap(pieces, font, high, vertical, break_words)
        while high - low > 1:
            middle = (low + high) / 2
            lines = self.wrap(pieces, font, middle, vertical, break_words)
            if len(lines) <= count and max(font.getlength(line, direction="ttb" if vertical else None)
                                           for line in lines) <= middle:
                high, best = middle, lines
            else:
                low = middle
        return best

    def fit(self, text: str, font_path: str, box_width: float, box_height: float, max_size: int,
            min_size: int, vertical: bool = False, spacing: float = 1.2, stroke_ratio: float = 0.0,
            break_words: bool = False) -> Layout | None:
        """The layout at the largest size in [min_size, max_size] that fits the box, or None if none fits."""
        if max_size < min_size:
            return None
        best = None
        low, high = min_size, max_size
        # Fitting is monotone in size but for rare wrapping effects: a binary search finds the largest.
        while low <= high:
            size = (low + high) // 2
            layout = self.layout(text, font_path, size, box_width, box_height, vertical, spacing, stroke_ratio,
                                 break_words)
            if layout.fits:
                best, low = layout, size + 1
            else:
                high = size - 1
        return best

    def draw(self, image: Image.Image, layout: Layout, x0: float, y0: float, box_width: float, box_height: float,
             alignment: str, color: tuple[int, int, int], outline_color: tuple[int, int, int] | None) -> None:
        """Draw the block centred vertically in the box, aligned left, centre or right."""
        draw = ImageDraw.Draw(image)
        stroke = {"stroke_width": layout.stroke_width, "stroke_fill": outline_color} if layout.stroke_width else {}
        font = layout.font
        if layout.vertical:
            # Columns run right to left; the block is centred in the box both ways, as in a speech balloon.
            right = x0 + (box_width + layout.width) / 2
            top = y0 + (box_height - layout.height) / 2
            boxes = [font.getbbox(line, direction="ttb", anchor="mt", stroke_width=layout.stroke_width)
                     for line in layout.lines]
            column_half = (boxes[0][2] - boxes[0][0]) / 2
            start = top - min(box[1] for box in boxes)  # all columns start on the same line, as in print
            for index, line in enumerate(layout.lines):
                draw.text((right - column_half - index * layout.pitch, start), line, font=font, fill=color,
                          direction="ttb", anchor="mt", **stroke)
            return
        boxes = [font.getbbox(line, anchor="ls", stroke_width=layout.stroke_width) for line in layout.lines]
        top = y0 + (box_height - layout.height) / 2
        baseline = top - boxes[0][1]
        block_left = {"left": x0, "right": x0 + box_width - layout.width}.get(
            alignment, x0 + (box_width - layout.width) / 2)
        for line, (left, _, right, _) in zip(layout.lines, boxes):
            ink_width = right - left
            if alignment == "right":
                x = block_left + layout.width - ink_width
            elif alignment == "left":
                x = block_left
            else:
                x = block_left + (layout.width - ink_width) / 2
            draw.text((x - left, baseline), line, font=font, fill=color, anchor="ls", **stroke)
            baseline += layout.pitch
