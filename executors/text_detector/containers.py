"""What holds a block of text: a comic balloon, a caption box, a sign panel, or nothing.

Lettering in comics and on signs sits on a flat colour (a balloon's white, a caption's yellow, a fascia's
navy) bounded by a strong edge (the balloon's ink outline, the caption's border, the panel's edge against
the photo). `find_container` finds that flat region by growing it from the background between the
letters: the letters are let through (they are holes in the colour, not its boundary); everything else
that differs from the colour stops the growth. The region is a container only if it encloses the text, is
bounded by a clear edge, holds no large foreign shapes and is not a large part of the page.

The other helpers answer questions the detector has on comic pages and photos:

- `group_lines_by_container`: lines in one balloon belong together; lines in different balloons must never
  be merged into one block, however close.
- `Searches`: the searches on one image, each made once (the detector searches while it reads).
- `is_text_like`: False for a small drawing the OCR read as text (an icon, a doodle).
- `looks_like_sfx`: a sound effect (big, outlined or slanted lettering drawn on the picture itself), to be
  left untouched by default.

Every function takes RGB uint8 pixels (height, width, 3) and boxes (x0, y0, x1, y1) in pixels.
"""

from __future__ import annotations

import dataclasses
import math
import threading

import cv2
import numpy as np

from transmodal.media import commonest_colour, to_lab

Box = tuple[float, float, float, float]

# A container may be at most this many times the area of its text: a balloon is typically 2-4 times its
# text, a caption box 1.2-2 times, a sign panel rarely over 10. Beyond, the flat region is a wall, a sky or
# the page around a column of text, which hold the text but are not its container.
MAX_AREA_RATIO = 25.0
# ...and never more than this fraction of the image.
MAX_IMAGE_FRACTION = 0.4
# How far (in each RGB channel) from the fill colour a pixel still counts as the fill: about three times
# the fill's own spread per channel, within these bounds. JPEG noise on a white balloon is 3-6 a channel,
# anti-aliased ink edges and thin panel borders 30 and more.
MIN_TOLERANCE, MAX_TOLERANCE = 10.0, 24.0
# The step in colour (Lab, 75th percentiles) across the region's edge that makes it a bounded container:
# an ink outline against white is 60-90, a caption border 50+, a panel against a photo 20-60, a faint thin
# border on a dark screen panel 18. Below, the colour fades out gradually, as a sky's does.
MIN_EDGE_CONTRAST = 15.0
# The work is done at a scale where a line of text is about this many pixels high: containers are large
# shapes, and a 2-pixel outline still stops the growth at that scale. Keeps a page's worth of blocks fast.
WORKING_LINE_HEIGHT = 14.0


@dataclasses.dataclass
class Container:
    """A flat region enclosing a block of text."""

    polygon: list[list[float]]  # [[x, y], ...]: the inner edge of its border, simplified (at most 64 points)
    kind: str  # "balloon", "caption" or "sign"
    fill_color: list[int]  # RGB of the flat fill
    ellipse: bool  # an ellipse fits the outline well (a round balloon)
    rectangular: bool  # a box (caption, sign panel): the outline fills its minimum-area rectangle
    outlined: bool  # bounded by a dark ink line (balloons and caption boxes are; most sign panels are not)
    area: float  # pixels inside the outline
    filled_by_text: bool = False  # a panel the text fills: the text's boxes reach over its border

    @property
    def box(self) -> tuple[int, int, int, int]:
        # (plain Python: asked for thousands of times a page, on outlines of at most 64 points)
        xs, ys = [point[0] for point in self.polygon], [point[1] for point in self.polygon]
        return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))

    def copy(self) -> Container:
        """A copy whose outline and colour a caller may change."""
        return dataclasses.replace(
            self, polygon=[list(point) for point in self.polygon], fill_color=list(self.fill_color)
        )

    def inner_mask(self, shape: tuple[int, ...], margin: int = 0) -> np.ndarray:
        """Boolean (height, width) mask of the inside of the outline, `margin` pixels in from it."""
        return polygon_mask(self.polygon, shape, margin)

    def contains(self, x: float, y: float) -> bool:
        return cv2.pointPolygonTest(np.asarray(self.polygon, np.float32), (float(x), float(y)), False) >= 0

    def holds(self, line_boxes) -> float:
        """The share of the lines' sample points (each line's middle and its corners, a fifth of its height
        in) inside the outline: 1.0 when the outline encloses every line, less when it cuts through them."""
        outline = np.asarray(self.polygon, np.float32)
        points = []
        for x0, y0, x1, y1 in line_boxes:
            inset = 0.2 * min(x1 - x0, y1 - y0)
            xs, ys = (x0 + inset, (x0 + x1) / 2, x1 - inset), (y0 + inset, (y0 + y1) / 2, y1 - inset)
            points += [(x, y) for x in xs for y in ys]
        if not points:
            return 1.0
        inside = sum(cv2.pointPolygonTest(outline, (float(x), float(y)), False) >= 0 for x, y in points)
        return inside / len(points)


def polygon_mask(polygon, shape: tuple[int, ...], margin: int = 0) -> np.ndarray:
    """Boolean (height, width) mask of a polygon's inside, shrunk by `margin` pixels."""
    mask: np.ndarray = np.zeros(shape[:2], np.uint8)
    if len(polygon) >= 3:
        cv2.fillPoly(mask, [np.round(np.asarray(polygon, np.float64)).astype(np.int32)], 1)
    if margin > 0:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    return mask > 0


def lettering_lines(pixels: np.ndarray, polygon, margin: int | None = None) -> list[Box]:
    """The boxes of the lines of lettering inside `polygon` (a balloon's or caption's outline, as an ACBF
    text area gives it): the runs of rows that hold ink, each boxed to its ink. `margin` pixels next to the
    outline are left out (the outline is ink too); by default 3 % of the polygon's smaller side, at least 2.
    Empty when the polygon holds no ink."""
    points = np.asarray(polygon, np.float64)
    if len(points) < 3:
        return []
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int)
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return []
    if margin is None:
        margin = max(2, int(round(0.03 * min(x1 - x0, y1 - y0))))
    inside = polygon_mask(points - (x0, y0), (y1 - y0, x1 - x0), margin)
    if inside.sum() < 16:
        return []
    gray = cv2.cvtColor(np.ascontiguousarray(pixels[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    # Otsu's split of the grey levels inside; the ink is the minority class (either polarity).
    threshold, _ = cv2.threshold(gray[inside].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = gray <= threshold
    ink = (dark if dark[inside].mean() <= 0.5 else ~dark) & inside
    rows = ink.sum(axis=1) >= 2
    lines: list[Box] = []
    start = None
    for row, inked in enumerate(list(rows) + [False]):
        if inked and start is None:
            start = row
        elif not inked and start is not None:
            if row - start >= 3:  # specks between lines are no line
                columns = np.nonzero(ink[start:row].any(axis=0))[0]
                lines.append((float(x0 + columns[0]), float(y0 + start), float(x0 + columns[-1] + 1), float(y0 + row)))
            start = None
    # Bits of the outline the margin did not cut off (where the polygon is coarser than the balloon) are
    # runs far shorter than a line of lettering.
    tallest = max((y1 - y0 for _, y0, _, y1 in lines), default=0)
    return [line for line in lines if line[3] - line[1] >= 0.4 * tallest]


def find_container(
    pixels: np.ndarray,
    text_box: Box,
    line_boxes: list[Box] | None = None,
    drawn: bool | None = None,
    max_area_ratio: float = MAX_AREA_RATIO,
) -> Container | None:
    """The flat region (balloon, caption box, sign panel) that encloses the text, or None.

    `text_box` is the block's box and `line_boxes` its lines (the letters are looked for inside them; the
    block's box stands in when there are none). `drawn` says whether the image is a drawing (a comic) or a
    photo, for naming the container: on a photo it is a "sign"; in a drawing a "caption" (a box) or a
    "balloon" (any other shape). None decides per container: one outlined in ink is drawn.
    `max_area_ratio`: the largest container accepted, in multiples of the text box's area.
    (One search; `Searches` keeps the searches made on an image.)
    """
    return Searches(pixels).find(text_box, line_boxes, drawn, max_area_ratio)


def find_panel_filled_by_text(pixels: np.ndarray, text_box: Box, line_boxes: list[Box]) -> Container | None:
    """On a photo, the sign panel a block's text fills to its border (a bold "NO PARKING" all but touching
    the edges of a barrier's plate), which `find_container` misses: its padded lines cross the border all
    round and its growth runs out into the street. Here the letters are let through only well inside the
    lines, the panel is grown at full size and taken as its convex hull, letters included; it is marked
    `filled_by_text`. Not for drawings: comic lettering has margins, and a balloon is found without this."""
    return Searches(pixels).panel_filled_by_text(text_box, line_boxes)


def group_lines_by_container(
    pixels: np.ndarray, line_boxes: list[Box], drawn: bool | None = None
) -> list[tuple[list[int], Container | None]]:
    """Lines grouped by the container they sit in (`Searches.group_lines`)."""
    return Searches(pixels).group_lines(line_boxes, drawn)


class Searches:
    """The container searches made on one image, each made once and its result kept (and handed out as a
    copy, so that a caller changing a container changes no other's): the detector searches from every line
    found while the lines are still being read, and then again from the lines read as words, which finds
    most of its searches made. Safe to use from several threads."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels
        self._found: dict[tuple, Container | None] = {}
        self._lock = threading.Lock()

    def find(
        self,
        text_box: Box,
        line_boxes: list[Box] | None = None,
        drawn: bool | None = None,
        max_area_ratio: float = MAX_AREA_RATIO,
    ) -> Container | None:
        """`find_container` on this image."""
        return self._search(text_box, line_boxes, drawn, max_area_ratio, False)

    def panel_filled_by_text(self, text_box: Box, line_boxes: list[Box]) -> Container | None:
        """`find_panel_filled_by_text` on this image."""
        if not line_boxes:
            return None
        panel = self._search(text_box, line_boxes, False, MAX_AREA_RATIO, True)
        if panel is not None:
            panel.outlined = False  # a photo's sign: whatever dark lies round it is no ink outline of a drawing
        return panel

    def group_lines(self, line_boxes: list[Box], drawn: bool | None = None) -> list[tuple[list[int], Container | None]]:
        """Lines grouped by the container they sit in: [(line indices, container)], one group per
        container, in the order of their first line (top to bottom); each line in no container is a group
        of its own with None (group those by geometry). Lines in different balloons are never in one group,
        however close."""
        groups: list[tuple[list[int], Container | None]] = []
        order = sorted(range(len(line_boxes)), key=lambda index: (line_boxes[index][1], line_boxes[index][0]))
        for index in order:
            x0, y0, x1, y1 = line_boxes[index]
            center = ((x0 + x1) / 2, (y0 + y1) / 2)
            owner = next((group for group in groups if group[1] is not None and group[1].contains(*center)), None)
            if owner is None:
                # One line is a small part of its balloon: allow a container many times its area (the image
                # fraction limit still keeps out the page itself).
                container = self.find(
                    line_boxes[index], [line_boxes[index]], drawn=drawn, max_area_ratio=12 * MAX_AREA_RATIO
                )
                # Found from another line of the same balloon, a container can come out a little different
                # (a line near the tail, a line the first one's outline passed close to): the same balloon
                # if most of either box lies in the other.
                owner = next(
                    (
                        group
                        for group in groups
                        if container is not None
                        and group[1] is not None
                        and _box_overlap(group[1].box, container.box) > 0.6
                    ),
                    None,
                )
                if owner is None:
                    groups.append(([index], container))
                    continue
            owner[0].append(index)
        return groups

    def _search(
        self, text_box: Box, line_boxes: list[Box] | None, drawn: bool | None, max_area_ratio: float, fills_panel: bool
    ) -> Container | None:
        key = (tuple(text_box), tuple(map(tuple, line_boxes or [])), drawn, max_area_ratio, fills_panel)
        with self._lock:
            if key in self._found:
                kept = self._found[key]
                return None if kept is None else kept.copy()
        found = _search(self.pixels, text_box, line_boxes, drawn, max_area_ratio, fills_panel)
        with self._lock:
            self._found[key] = None if found is None else found.copy()
        return found


def _search(
    pixels: np.ndarray,
    text_box: Box,
    line_boxes: list[Box] | None,
    drawn: bool | None,
    max_area_ratio: float,
    fills_panel: bool = False,
) -> Container | None:
    """The container search of `find_container` and `find_panel_filled_by_text` (see `_grow_region`)."""
    height, width = pixels.shape[:2]
    tx0, ty0, tx1, ty1 = _clip_box(text_box, width, height)
    if tx1 - tx0 < 2 or ty1 - ty0 < 2:
        return None
    lines = [_clip_box(box, width, height) for box in (line_boxes or [text_box])]
    lines = [box for box in lines if box[2] - box[0] >= 2 and box[3] - box[1] >= 2] or [(tx0, ty0, tx1, ty1)]
    # The letters' size: a line's height, or a vertical column's width. Without line boxes the block's box
    # stands in, which may hold many lines: then the lines are told apart by the ink.
    size = float(np.median([min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in lines]))
    if not line_boxes:
        size = _line_height(pixels[ty0:ty1, tx0:tx1])
    max_area = min(max_area_ratio * (tx1 - tx0) * (ty1 - ty0), MAX_IMAGE_FRACTION * width * height)
    # (a panel the text fills may show only a few pixels of its colour round the letters: full size)
    scale = 1.0 if fills_panel else min(1.0, WORKING_LINE_HEIGHT / size)

    # Look in a window 3 times the text's size first, and in one 7 times its size only if the region
    # reaches the first one's edge: most containers are a little larger than their text, and a small
    # window is fast. A region reaching past the larger window is no container.
    margin = int(max(tx1 - tx0, ty1 - ty0, 4 * size))
    for grow in (1, 3):
        wx0, wy0 = max(0, tx0 - grow * margin), max(0, ty0 - grow * margin)
        wx1, wy1 = min(width, tx1 + grow * margin), min(height, ty1 + grow * margin)
        crop = pixels[wy0:wy1, wx0:wx1]
        local_lines = [(x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0) for x0, y0, x1, y1 in lines]
        # The window's sides that cut through the image (beyond them the region could go on).
        open_sides = (wx0 > 0, wy0 > 0, wx1 < width, wy1 < height)
        found = _grow_region(crop, local_lines, size, scale, open_sides, fills_panel)
        if found is None:
            return None
        region, fill_lab, fill_rgb, reaches_edge = found
        if region.sum() > max_area:
            return None
        if not reaches_edge:
            break
    else:
        return None

    contrast, outlined = _edge(crop, region, fill_lab)
    if contrast < MIN_EDGE_CONTRAST:
        return None
    container = _describe(region, (wx0, wy0), fill_rgb, outlined, outlined if drawn is None else drawn)
    container.filled_by_text = fills_panel
    return container


def _box_overlap(first, second) -> float:
    """The share of the smaller box that lies in the larger one."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((first[2] - first[0]) * (first[3] - first[1]), (second[2] - second[0]) * (second[3] - second[1]))
    return width * height / max(1, smaller)


def is_text_like(pixels: np.ndarray, box: Box) -> bool:
    """Whether the ink in a line box looks like lettering rather than a drawing read as text.

    Letters are separate shapes of about the line's height, none much wider than tall, drawn with strokes of
    one width, and they ink a moderate share of their line. A small drawing (a paper icon, a doodle, a
    hatched shadow) is one big shape, a frame around other shapes, long thin lines or a solid blot.
    """
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = _clip_box(box, width, height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return False
    pad = int(round(0.15 * min(x1 - x0, y1 - y0))) + 1
    px0, py0, px1, py1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    line_height = float(min(x1 - x0, y1 - y0))
    inside = np.zeros((py1 - py0, px1 - px0), bool)
    inside[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0] = True
    ink = _ink(pixels[py0:py1, px0:px1], inside)
    share = ink[inside].mean()
    if not 0.04 <= share <= 0.5:
        return False

    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    left, top = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    areas, widths, heights = (stats[1:, cv2.CC_STAT_AREA], stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    # Shapes reaching the padded crop's edge are the neighbours' (the line above, a balloon's outline).
    edge = (left == 0) | (top == 0) | (left + widths >= ink.shape[1]) | (top + heights >= ink.shape[0])
    real = (areas >= max(3, 0.002 * line_height**2)) & ~edge  # JPEG specks are no shapes
    if not real.any():
        return False
    long_side, short_side = np.maximum(widths, heights), np.maximum(1, np.minimum(widths, heights))
    fill_ratio = areas / (widths * heights)
    # A letter (or a few joined letters, as in handwriting and tight lettering): not taller than the line,
    # at least a quarter of it (dots and commas are small, but they are never most of the ink), not a long
    # thin line, not a frame (a large, mostly empty box around other shapes), not a solid blot.
    letter = (
        real
        & (long_side <= 1.3 * line_height)
        & (long_side >= 0.25 * line_height)
        & (long_side <= 8 * short_side)
        & (fill_ratio >= 0.1)
        & (fill_ratio <= 0.9)
    )
    joined = (
        real
        & (heights <= 1.3 * line_height)
        & (heights >= 0.4 * line_height)
        & (fill_ratio >= 0.12)
        & (fill_ratio <= 0.8)
        & (widths > 1.3 * line_height)
    )
    if (areas[letter | joined].sum()) < 0.6 * areas[real].sum():
        return False
    if _frames_other_ink(ink):
        return False
    # Strokes of one width: the stroke width (twice the distance to the background along the strokes'
    # middle) varies little within lettering, much between a drawing's fills and hairlines.
    distance = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    ridge = ink & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))
    widths_along = 2 * distance[ridge]
    if len(widths_along) < 4:
        return False
    return float(np.std(widths_along) / max(1e-6, float(np.mean(widths_along)))) <= 0.75


# Lines slanting more than this many degrees are lettering drawn onto the picture: dialogue is level.
SFX_MIN_ANGLE = 15.0


def looks_like_sfx(
    pixels: np.ndarray,
    text_box: Box,
    line_boxes: list[Box] | None = None,
    container: Container | None = None,
    body_size: float | None = None,
) -> bool:
    """Whether a block's letters look like a sound effect's: lettering drawn onto the picture rather than
    lettered in a balloon.

    Outlined letters (filled with one colour and edged with another) are sound effects wherever they are:
    dialogue is lettered in one ink, and the flat patch of wall or sky around a sound effect can pass for a
    container. Big lettering (at least 1.8 times `body_size`, the page's usual line height) is one only
    outside a container (in a balloon it is shouting). Slanted lines (over `SFX_MIN_ANGLE`) are the caller's
    to judge, from the detector's angle of each line. Check this before `is_text_like`, which rejects
    outlined letters (a shape around another)."""
    height, width = pixels.shape[:2]
    lines = line_boxes or [text_box]
    size = float(np.median([min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in lines]))
    if container is None and body_size and size >= 1.8 * body_size:
        return True
    return _outlined_letters(pixels, _clip_box(text_box, width, height))


def _frames_other_ink(ink: np.ndarray) -> bool:
    """Whether a shape encloses other shapes (a drawn sheet with ruled lines, a box around a mark): letters
    do not; an O's counter is empty."""
    contours, hierarchy = cv2.findContours(ink.astype(np.uint8), cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return False
    parents = hierarchy[0][:, 3]
    # Depth 0: an ink shape; 1: a hole in it; 2: ink inside that hole.
    depth = np.zeros(len(contours), int)
    for index in range(len(contours)):
        parent = parents[index]
        while parent >= 0:
            depth[index] += 1
            parent = parents[parent]
    # The holes' insides (one pixel in from the ink around them), and how much ink lies there.
    holes: np.ndarray = np.zeros(ink.shape, np.uint8)
    cv2.drawContours(
        holes, [contour for contour, level in zip(contours, depth) if level == 1], -1, 1, thickness=cv2.FILLED
    )
    holes = cv2.erode(holes, np.ones((3, 3), np.uint8)) > 0
    return (ink & holes).sum() >= 0.05 * ink.sum()


def _outlined_letters(pixels: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Letters edged in a colour of their own (white letters outlined in red, purple ones in white), as
    sound effects are drawn, rather than one ink with anti-aliased edges.

    The letters' pixels are split into two colours. For plain lettering both lie on one line with the
    background (the ink, and blends of ink and background); an outline and a fill of their own make a
    triangle with it. (Outline, fill and background all grey, as in black-edged white letters on grey,
    look plain: size or slant has to tell those.)"""
    x0, y0, x1, y1 = box
    if x1 - x0 < 8 or y1 - y0 < 8:
        return False
    rgb = pixels[y0:y1, x0:x1]
    lab = to_lab(rgb)
    # The background: the commonest colour along the box's border.
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    background = _dominant_color(border, np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]))[0]
    letters = np.linalg.norm(lab - background, axis=2) > 25.0
    if letters.sum() < 40:
        return False
    samples = lab[letters].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    # Two colours started from the darker and the lighter half: k-means++ would draw its first centres from
    # OpenCV's global random generator, and the same letters were judged differently after other code had
    # drawn from it (RapidOCR's, in the same process).
    lightness = samples[:, 0]
    start = (lightness > np.median(lightness)).astype(np.int32).reshape(-1, 1)
    _, assignment, centers = cv2.kmeans(samples, 2, start, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    if min((assignment == 0).sum(), (assignment == 1).sum()) < 0.15 * len(assignment):
        return False  # one colour only
    return min(_off_line(centers[0], background, centers[1]), _off_line(centers[1], background, centers[0])) > 20.0


def _off_line(point: np.ndarray, start: np.ndarray, through: np.ndarray) -> float:
    """Distance of `point` from the straight line through `start` and `through`."""
    direction = through - start
    t = float(np.dot(point - start, direction) / max(1e-6, float(np.dot(direction, direction))))
    return float(np.linalg.norm(point - (start + t * direction)))


def _line_height(rgb: np.ndarray) -> float:
    """The height of a block's lines, from its ink: the median height of the runs of rows that hold ink
    (the block's own height for a single line, or when no gaps between lines show)."""
    ink = _ink(rgb, np.ones(rgb.shape[:2], bool))
    rows = ink.mean(axis=1) > 0.02
    runs, length = [], 0
    for inked in rows:
        if inked:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    if length:
        runs.append(length)
    runs = [run for run in runs if run >= 4]  # dots and specks between lines are no lines
    return float(np.median(runs)) if runs else float(min(rgb.shape[:2]))


def _clip_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (
        max(0, int(np.floor(x0))),
        max(0, int(np.floor(y0))),
        min(width, int(np.ceil(x1))),
        min(height, int(np.ceil(y1))),
    )


# Pixels a fill colour is measured on (every k-th of the lines' or panel's): the commonest colour and its
# median are as steady on 5,000 as on 20,000, in a quarter of the time (about 30 searches a comic page).
COLOUR_SAMPLES = 5000


def _ink(rgb: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The ink of a small crop, either polarity: Otsu's split of its grey levels, the class that is the
    minority inside the line's box (`inside`): lettering inks well under half of its line."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    _, dark = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return dark > 0 if dark[inside].mean() <= 0.5 else dark == 0


def _dominant_color(lab: np.ndarray, rgb: np.ndarray):
    """The most common colour among the samples (N, 3) (`commonest_colour`). Returns its Lab and RGB (medians
    of the samples near it), how far those samples stray from it (90th percentile RGB distance) and which
    share of the samples are near it."""
    center, near = commonest_colour(lab)
    center_rgb = np.median(rgb[near].astype(np.float32), axis=0)
    spread = float(np.percentile(np.linalg.norm(rgb[near] - center_rgb, axis=1), 90))
    return center, center_rgb, spread, float(near.mean())


def _boxes_mask(shape: tuple[int, ...], boxes) -> np.ndarray:
    """Boolean mask of the union of boxes (x0, y0, x1, y1), rounded to whole pixels, clipped."""
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, int(round(y0))) : max(0, int(round(y1))), max(0, int(round(x0))) : max(0, int(round(x1)))] = True
    return mask


def _fill_color(rgb: np.ndarray, detected: np.ndarray, ring: np.ndarray):
    """The fill colour the text stands on: (Lab, RGB, spread), or None when the text stands on no fill.

    The candidates are the commonest colour inside the detected boxes and the commonest just around them
    (the padding). Usually they agree. When they do not, the box reaches onto the container's border (a
    sign's text filling its panel: the padding is the border) or the letters are bold on a picture (the
    commonest colour inside the box is the ink). A candidate counts if it covers a good part of the lines
    (between the letters the fill covers most of a line; lettering inks 15-40 % of it, JPEG halos and bold
    letters more), and either the padding too, or what it leaves inside the boxes looks like letters: one
    colour, at most about half of the boxes (the ink of bold letters on a picture leaves the picture)."""

    def sample(mask):
        # (indices first: copying every pixel of the mask to keep every k-th took most of the time)
        rows, columns = np.nonzero(mask)
        step = max(1, len(rows) // COLOUR_SAMPLES)
        pixels = rgb[rows[::step], columns[::step]]
        return to_lab(pixels[None])[0], pixels

    inside_lab, inside_rgb = sample(detected)
    candidates = [_dominant_color(inside_lab, inside_rgb)]
    if ring.sum() >= 20:
        ring_lab, ring_rgb = sample(ring)
        candidates.append(_dominant_color(ring_lab, ring_rgb))
    for center, center_rgb, spread, _ in candidates:
        near = np.linalg.norm(inside_lab - center, axis=1) < 12.0
        if near.mean() < 0.25:
            continue
        around = np.mean(np.linalg.norm(ring_lab - center, axis=1) < 12.0) if ring.sum() >= 20 else 1.0
        rest = inside_lab[~near]
        letters = len(rest) < 10 or (
            len(rest) <= 0.55 * len(inside_lab)
            and np.percentile(np.linalg.norm(rest - np.median(rest, axis=0), axis=1), 75) < 20.0
        )
        if around >= 0.3 or letters:
            return center, center_rgb, spread
    return None


def _panel_color(rgb: np.ndarray, inside: np.ndarray):
    """The colour between the letters well inside the text's boxes (Lab, RGB, spread), or None when it is
    no flat colour (most of what is not ink near one colour). Bold letters may ink half of their box, so
    of Otsu's two grey classes the fill is the one along the boxes' edges, round the letters."""
    if inside.sum() < 20:
        return None
    ys, xs = np.nonzero(inside)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
    within = inside[top:bottom, left:right]
    _, light = cv2.threshold(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    eroded = cv2.erode(
        within.astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    edge = within & (eroded == 0)
    background = within & ((light > 0) if light[edge].mean() >= 0.5 else (light == 0))
    if background.sum() < 20:
        return None
    pixels = crop[background][:: max(1, int(background.sum()) // COLOUR_SAMPLES)]
    center, center_rgb, spread, share = _dominant_color(to_lab(pixels[None])[0], pixels)
    return (center, center_rgb, spread) if share >= 0.4 else None


def _grow_region(
    rgb: np.ndarray,
    lines,
    size: float,
    scale: float,
    open_sides: tuple[bool, bool, bool, bool],
    fills_panel: bool = False,
):
    """The connected region of the fill colour around the text in the crop `rgb`: (its mask with holes
    filled, fill Lab, fill RGB, whether it reaches one of the `open_sides` (left, top, right, bottom)),
    or None when the text has no flat fill around its letters or the region does not enclose the text.
    The shapes are worked on at `scale` (the colours at full size).

    `fills_panel`: the text's boxes reach the panel's border (a bold "NO PARKING" filling a white plate on
    a barrier): the letters are let through only well inside the boxes, and the fill is the colour between
    the letters there."""
    # The lines, a little padded: detected boxes can be tight, and anti-aliasing spills past the ink. A
    # padded box may cross the container's edge, where a detected box reaches right to it (a sign's text
    # filling its panel): the strip let through there is narrow, and cut below. Whether the region holds
    # the text is judged on the boxes as detected.
    pad = -int(round(0.1 * size)) if fills_panel else int(round(0.15 * size)) + 1
    padded = [(x0 - pad, y0 - pad, x1 + pad, y1 + pad) for x0, y0, x1, y1 in lines]
    in_lines, detected = _boxes_mask(rgb.shape, padded), _boxes_mask(rgb.shape, lines)

    # The fill colour is measured in Lab on the lines (a sample of their pixels is plenty); the growth
    # compares RGB channel by channel, which is much cheaper on a large window and as good for telling a
    # flat fill from everything else.
    found = _panel_color(rgb, in_lines) if fills_panel else _fill_color(rgb, detected, in_lines & ~detected)
    if found is None:
        return None
    fill_lab, fill_rgb, spread = found
    tolerance = float(np.clip(1.75 * spread, MIN_TOLERANCE, MAX_TOLERANCE))
    fill: np.ndarray = cv2.inRange(rgb, np.clip(fill_rgb - tolerance, 0, 255), np.clip(fill_rgb + tolerance, 0, 255))
    full_shape = fill.shape
    if scale < 1.0:
        # A working pixel is fill only if (nearly) all the pixels it stands for are: a 1-pixel outline
        # still stops the growth.
        small = (max(1, round(full_shape[1] * scale)), max(1, round(full_shape[0] * scale)))
        fill = cv2.resize(fill, small, interpolation=cv2.INTER_AREA) >= 253
        sx, sy = small[0] / full_shape[1], small[1] / full_shape[0]
        in_lines = _boxes_mask(fill.shape, [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in padded])
        detected = _boxes_mask(fill.shape, [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in lines])
        size *= scale
    else:
        fill = fill > 0
    # The letters are holes in the fill, not its edge: let the growth through them (only inside the lines,
    # so an ink outline next to the text still stops it).
    region = _component_holding(fill | in_lines, in_lines & fill)
    if region is None:
        return None

    # Cut narrow bridges: a gap in an outline, the white ribbon joining two balloons, a balloon's tail, a
    # thin strip of the page's gutter. With its holes filled (letters, other lines of text), the body of a
    # balloon is solid and survives an opening this size, narrow margins included; only corners get a
    # little rounder.
    # (A panel the text fills has no margin to open: its bridges are the few strips the padding let out.)
    radius = max(1, int(round((0.1 if fills_panel else 0.35) * size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    opened = cv2.morphologyEx(_with_text_holes_filled(region, size).astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0
    filled = _component_holding(opened, in_lines & opened)
    if filled is None:
        return None
    region &= filled

    # It must enclose the text: nearly all of the lines' area inside.
    # (Boxes round text that fills its panel take in a strip of the panel's border.)
    if (filled & detected).sum() < (0.75 if fills_panel else 0.9) * detected.sum():
        return None
    # A container is flat: its holes are letters and lines of text (of this block, or of another one in
    # the same balloon or panel), not pictures. A picture area that happens to hold the fill colour in
    # places has holes large both ways.
    holes = (filled & ~region & ~in_lines).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=8)
    stats = stats[1:]
    big = (stats[:, cv2.CC_STAT_WIDTH] > 3 * size) & (stats[:, cv2.CC_STAT_HEIGHT] > 3 * size)
    if stats[big, cv2.CC_STAT_AREA].sum() > 0.15 * filled.sum():
        return None
    left, top, right, bottom = open_sides
    reaches_edge = bool(
        (left and filled[:, 0].any())
        or (top and filled[0, :].any())
        or (right and filled[:, -1].any())
        or (bottom and filled[-1, :].any())
    )
    if fills_panel:
        # Letters touching the panel's border notch its region from outside (no holes to fill): the panel
        # is the region's convex hull, so that they are erased with the rest.
        hull = cv2.convexHull(cv2.findNonZero(filled.astype(np.uint8)))
        filled = cv2.fillConvexPoly(np.zeros(filled.shape, np.uint8), hull, 1) > 0
    if filled.shape != full_shape:
        filled = cv2.resize(filled.astype(np.uint8), full_shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    return filled, fill_lab, fill_rgb, reaches_edge


def _with_text_holes_filled(region: np.ndarray, size: float) -> np.ndarray:
    """The region with its solid holes filled: letters and lines of text it did not know of (another block
    in the same balloon), drawings. Thin ring-shaped holes stay open: a balloon's outline with a gap in
    it is such a hole once the region has leaked round it, and must stay a cut."""
    holes = (~region).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    width, height = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    enclosed = (left > 0) & (top > 0) & (left + width < region.shape[1]) & (top + height < region.shape[0])
    solid = stats[:, cv2.CC_STAT_AREA] >= 0.2 * width * height
    small = (width <= 3 * size) & (height <= 3 * size)
    fill = enclosed & (solid | small)
    fill[0] = False
    return region | fill[labels]


def _component_holding(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray | None:
    """The 4-connected component of `mask` holding most of the `seeds`, or None when none does."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    hits = labels[seeds]
    hits = hits[hits > 0]
    if count < 2 or not len(hits):
        return None
    return labels == int(np.bincount(hits, minlength=count).argmax())


def _edge(rgb: np.ndarray, region: np.ndarray, fill_lab: np.ndarray) -> tuple[float, bool]:
    """What lies just outside the region: how sharply it differs from the fill, and whether it is an ink
    outline (largely dark, as around a balloon or a caption box).

    The contrast is the step across the region's edge: the difference from the fill just outside (1-5
    pixels out: wide enough to hold a thin outline past its anti-aliased inner edge) less the difference
    just inside (the last 2 pixels). A real container has a clear edge; where a colour merely drifts (a
    sky, a shaded wall, a car door), the growth stops somewhere along the drift and both sides differ alike.
    """
    ring = cv2.dilate(region.astype(np.uint8), np.ones((11, 11), np.uint8)) > 0
    ring &= ~region
    rim = region & ~(cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    if not ring.any() or not rim.any():  # the region is the whole window, i.e. the whole image
        return 0.0, False
    outside = to_lab(rgb[ring][None])[0]
    beyond = float(np.percentile(np.linalg.norm(outside - fill_lab, axis=1), 75))
    within = float(np.median(np.linalg.norm(to_lab(rgb[rim][None])[0] - fill_lab, axis=1)))
    return beyond - within, float(np.mean(outside[:, 0] < 40.0)) >= 0.25


def _describe(
    region: np.ndarray, origin: tuple[int, int], fill_rgb: np.ndarray, outlined: bool, drawn: bool
) -> Container:
    """The container's outline as a simplified polygon in image coordinates (`origin`: the window's
    top-left corner), and its shape and kind."""
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    area = float(region.sum())

    # Simplify: the smallest tolerance that gives at most 64 points (coarse enough for rendering and
    # filling, close enough that a fill inside stays off the border).
    epsilon = 0.002 * cv2.arcLength(contour, True)
    polygon = cv2.approxPolyDP(contour, epsilon, True)
    while len(polygon) > 64:
        epsilon *= 1.5
        polygon = cv2.approxPolyDP(contour, epsilon, True)
    points = [[float(x + origin[0]), float(y + origin[1])] for x, y in polygon[:, 0]]

    rectangular = ellipse = False
    if len(contour) >= 5:
        (_, _), (rect_w, rect_h), _ = cv2.minAreaRect(contour)
        rectangular = area >= 0.9 * rect_w * rect_h
        fitted = np.zeros(region.shape, np.uint8)
        cv2.ellipse(fitted, cv2.fitEllipse(contour), 1, thickness=cv2.FILLED)
        overlap = np.logical_and(fitted > 0, region).sum() / max(1, np.logical_or(fitted > 0, region).sum())
        ellipse = overlap >= 0.9 and not rectangular
    kind = "sign" if not drawn else "caption" if rectangular else "balloon"
    return Container(
        polygon=points,
        kind=kind,
        fill_color=[int(round(v)) for v in fill_rgb],
        ellipse=bool(ellipse),
        rectangular=bool(rectangular),
        outlined=bool(outlined),
        area=area,
    )
