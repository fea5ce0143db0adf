"""The measures of the image-translation evaluation: text normalisation, word and character accuracy,
region matching and box geometry. Pure functions on plain values, unit-tested in tests/test_evaluation.py.

Text is compared after `normalize`:
- Unicode NFKC, then case-folded (comic lettering is all capitals, the ACBF text is not always);
- typographic apostrophes (’ ‘ `) become ', so "SHE’D" and "she'd" are one word;
- hyphens and dashes separate words ("GIRL-SHAPED" is "girl shaped": OCR and the annotator may break
  such words differently), and so do line breaks;
- every other character that is not a letter, digit or an apostrophe inside a word is dropped
  (punctuation, ellipses, the ">" of in-game chat lines);
- whitespace runs become one space.
Words are the space-separated pieces of the normalised text, so spaces count: "NOPARKING" is one word
and matches neither "no" nor "parking".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from transmodal.metrics import edit_distance

Box = Sequence[float]  # x0, y0, x1, y1

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―_/]+")
_DROPPED = re.compile(r"[^\w' ]|_")


def normalize(text: str | None) -> str:
    """Text as compared: case-folded, punctuation dropped, hyphens and line breaks as spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    text = _SEPARATORS.sub(" ", text)
    text = _DROPPED.sub("", text)
    words = [word.strip("'") for word in text.split()]
    return " ".join(word for word in words if word)


def words(text: str | None, min_length: int = 1) -> list[str]:
    """The normalised words of a text, keeping those of at least `min_length` characters."""
    return [word for word in normalize(text).split() if len(word) >= min_length]


def has_letters(text: str | None) -> bool:
    return any(character.isalpha() for character in normalize(text))


def bag_hits(reference: Iterable[str], hypothesis: Iterable[str]) -> tuple[int, int]:
    """(reference words found in the hypothesis, reference words): bag-of-words recall, each hypothesis
    word used at most once, order ignored (a detector may read blocks in any order)."""
    reference, found = Counter(reference), Counter(hypothesis)
    return sum(min(count, found[word]) for word, count in reference.items()), sum(reference.values())


def bag_hits_any(reference: Iterable[str], readings: Sequence[Iterable[str]]) -> tuple[int, int]:
    """`bag_hits` against several readings of the same output (whole and block by block): a word counts
    as often as the reading showing it most often has it, so a block read twice is not counted twice."""
    reference = Counter(reference)
    counted = [Counter(reading) for reading in readings] or [Counter()]
    found = sum(min(count, max(reading[word] for reading in counted)) for word, count in reference.items())
    return found, sum(reference.values())


def substring_hits(
    reference: Iterable[str], text: str | Sequence[str] | None, exclude: Iterable[str] = ()
) -> tuple[int, int]:
    """(reference words found in the text, reference words), where a word is found anywhere in the
    normalised text with its spaces removed: "SHEWAS12,ANDTHEONLY" still shows "only". Each word is
    counted up to as many times as it occurs there. Words of the text that are in `exclude` (the words
    the output should show: its translation) are taken out first, so that "protest" is not found in a
    correctly drawn "protestaría" nor "person" in "persona". Several texts (readings of the same image,
    whole and in parts): a word counts as often as the text showing it most often has it."""
    excluded = set(exclude)
    texts = [text] if text is None or isinstance(text, str) else list(text)
    squeezed = ["".join(word for word in normalize(one).split() if word not in excluded) for one in texts]
    reference = Counter(reference)
    found = sum(min(count, max(one.count(word) for one in squeezed)) for word, count in reference.items())
    return found, sum(reference.values())


def char_errors(reference: str | None, hypothesis: str | None) -> tuple[int, int]:
    """(character edits, reference characters) between the normalised texts: sums to a CER over many."""
    expected, found = normalize(reference), normalize(hypothesis)
    return edit_distance(expected, found), len(expected)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


# Geometry --------------------------------------------------------------------------------------------


def polygon_box(polygon: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    xs = [point[0] for point in polygon]
    ys = [point[1] for point in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def box_polygon(box: Box) -> list[list[float]]:
    x0, y0, x1, y1 = box
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def coverage(a: Box, b: Box) -> float:
    """Overlap of two boxes as a share of the smaller one: 1 when one lies inside the other."""
    smaller = min(area(a), area(b))
    return intersection(a, b) / smaller if smaller > 0 else 0.0


def match(detected: Sequence[Box], annotated: Sequence[Box], threshold: float = 0.5) -> list[list[int]]:
    """For each detected box, the annotated boxes it matches: overlap of at least `threshold` of the
    smaller of the two. A detected line inside an annotated block matches it; a detected block that
    spans several annotated ones matches each."""
    return [[index for index, box in enumerate(annotated) if coverage(found, box) >= threshold] for found in detected]


def groups(matches: Sequence[Sequence[int]], annotated_count: int) -> list[tuple[list[int], list[int]]]:
    """Connected groups of annotated areas and the detected regions matching them, as (areas, regions):
    a region that spans two areas joins them into one group, so its text is compared with both of theirs.
    Every area is in one group (with no regions when it was missed); regions matching nothing are in none."""
    parent = list(range(annotated_count))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for found in matches:
        for other in found[1:]:
            parent[root(other)] = root(found[0])
    members: dict[int, tuple[list[int], list[int]]] = {}
    for index in range(annotated_count):
        members.setdefault(root(index), ([], []))[0].append(index)
    for region, found in enumerate(matches):
        if found:
            members[root(found[0])][1].append(region)
    return list(members.values())


def outside_share(box: Box, polygon: Sequence[Sequence[float]]) -> float:
    """The share of a box's area that lies outside a polygon (rasterised at 1 px)."""
    import numpy as np
    from PIL import Image, ImageDraw

    x0, y0, x1, y1 = (int(round(value)) for value in box)
    width, height = x1 - x0, y1 - y0
    if width <= 0 or height <= 0:
        return 0.0
    mask = Image.new("1", (width, height), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=1)
    return 1.0 - float(np.asarray(mask).mean())


def overlapping(boxes: Sequence[Box], tolerance: float = 0.02) -> list[bool]:
    """For each box, whether it overlaps another one by more than `tolerance` of the smaller's area."""
    flags = [False] * len(boxes)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if coverage(boxes[i], boxes[j]) > tolerance:
                flags[i] = flags[j] = True
    return flags
