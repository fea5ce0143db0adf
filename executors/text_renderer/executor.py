import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests
from PIL import Image

from executors.text_renderer.backends import LAYOUTS, Layout
from transmodal import fonts
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import ConfigurationError
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image, encode_image
from transmodal.processing import for_each_doc, traced

OUTLINE_MODES = ("auto", "always", "never")


class TextRenderer(Executor):
    """Draws each region's translation into the (erased) image, in the region's box, colour and alignment.

    The text gets the largest size, up to a little more than the original's, at which it fits the box
    word-wrapped (CJK wraps between characters). A text that does not fit at `min_font_size` may spread a
    little past its box into free space, then shrink down to `floor_font_size`; it is never dropped. A
    thin outline keeps the text readable where it contrasts poorly with the pixels behind it.
    """

    def __init__(self, backend: str = "pillow", backend_options: dict | None = None, font: str | None = None,
                 bold: bool = False, min_font_size: int = 10, floor_font_size: int = 6, max_scale: float = 1.0,
                 outline: str = "auto", line_spacing: float | None = None, max_grow: float = 0.5,
                 min_contrast: float = 3.0, max_pixels: int = DEFAULT_MAX_PIXELS, **kwargs):
        super().__init__(**kwargs)
        if outline not in OUTLINE_MODES:
            raise ConfigurationError(f"outline must be one of {', '.join(OUTLINE_MODES)}, got {outline!r}")
        self.layouts = LAYOUTS.create(backend, **(backend_options or {}))
        self.font = font
        self.bold = bold
        self.min_font_size = min_font_size
        self.floor_font_size = min(floor_font_size, min_font_size)
        self.max_scale = max_scale
        self.outline = outline
        self.line_spacing = line_spacing
        self.max_grow = max_grow
        self.min_contrast = min_contrast
        self.max_pixels = max_pixels

    @requests
    def render(self, docs: DocList[MediaDoc], **kwargs) -> DocList[MediaDoc]:
        for_each_doc(docs, self.metas.name, self._render_doc)
        return traced(docs, self)

    def _render_doc(self, doc: MediaDoc) -> None:
        if not doc.regions:
            return
        pixels = decode_image(doc.image, self.max_pixels)
        image = Image.fromarray(pixels)
        boxes = [region_box(region) for region in doc.regions]
        edges = edge_strength(pixels)
        for index, region in enumerate(doc.regions):
            text = region.translation if region.translation is not None else region.text
            if not text or not text.strip() or boxes[index] is None:
                continue
            others = [box for other, box in enumerate(boxes) if other != index and box is not None]
            # The source's line breaks do not carry over: the translation is wrapped afresh to fit.
            self._render_region(image, pixels, edges, region, text.strip(), boxes[index], others)
        doc.image = encode_image(np.asarray(image))

    def _font_path(self, text: str) -> str:
        if self.font and fonts.covers(self.font, text):
            return self.font
        return fonts.font_for_text(text, bold=self.bold)  # the override lacks this script's glyphs

    def _render_region(self, image: Image.Image, pixels: np.ndarray, edges: np.ndarray, region: TextRegion, text: str,
                       box: tuple[float, float, float, float], others: list) -> None:
        font_path = self._font_path(text)
        vertical = region.style.direction == "vertical" and fonts.is_cjk(text)
        x0, y0, x1, y1 = box
        behind = pixels[int(y0):max(int(y0) + 1, int(np.ceil(y1))), int(x0):max(int(x0) + 1, int(np.ceil(x1)))]
        color = tuple(region.style.color) if region.style.color else contrasting_color(behind.reshape(-1, 3))
        outline_color = self._outline_color(color, region, behind)
        stroke_ratio = 1 / 15 if outline_color is not None else 0.0
        target = self._target_size(region, box)
        spacing = self.line_spacing or line_spacing_of(region, target)
        max_size = max(self.min_font_size, int(round(self.max_scale * target)))

        def fit(width: float, height: float, low: int, break_words: bool = False) -> Layout | None:
            return self.layouts.fit(text, font_path, width, height, max_size, low, vertical, spacing, stroke_ratio,
                                    break_words)

        # 1. The original box or a larger one grown into free space: the text as close to its original size
        # as it can be, for as little growth as possible (growing the box 2x costs 30 % of the size).
        width, height = x1 - x0, y1 - y0
        best: tuple[Layout, tuple] | None = None
        best_score = -np.inf
        grown = grown_boxes(box, region.style.alignment, vertical, self.max_grow, spacing * target, edges,
                            0.3 * target, others)
        for candidate in [box] + grown:  # smallest first
            growth = np.sqrt((candidate[2] - candidate[0]) * (candidate[3] - candidate[1]) / (width * height)) - 1
            if best_score >= 1 - 0.3 * growth:
                break  # even the full size could not pay for this much growth
            layout = fit(candidate[2] - candidate[0], candidate[3] - candidate[1], self.min_font_size)
            if layout is None:
                continue
            score = min(layout.size, target) / target - 0.3 * growth
            if score > best_score:
                best, best_score = (layout, candidate), score
        if best is not None:
            layout, box = best
        # 2. The original box at any size down to the floor, cutting words that are too long if need be.
        else:
            layout = fit(width, height, self.floor_font_size) or fit(width, height, self.floor_font_size, True)
        # 3. Never drop text: the smallest size, centred on the box, even if it overflows.
        if layout is None:
            layout = self.layouts.layout(text, font_path, self.floor_font_size, width, height, vertical, spacing,
                                         stroke_ratio, True)
        x0, y0, x1, y1 = box
        self.layouts.draw(image, layout, x0, y0, x1 - x0, y1 - y0, region.style.alignment, color, outline_color)

    def _target_size(self, region: TextRegion, box) -> float:
        """The font size (em) at which lines come out as tall as the original's.

        A line box runs from the tallest ascender to the lowest descender the line actually has: "museum" is
        about 0.75 em tall, "copy" 0.95 em. When the source text of each line is known, its ink height in a
        reference font converts each line's height to an em size; the median over lines is the target.
        """
        x0, y0, x1, y1 = box
        # The source's line height: a row's height, or a vertical column's width.
        source_vertical = region.style.direction == "vertical"
        heights = [(line[2] - line[0]) if source_vertical else (line[3] - line[1]) for line in region.lines]
        if not heights:
            heights = [region.style.font_size or min(x1 - x0, y1 - y0)]
        texts = [line.strip() for line in (region.text or "").split("\n") if line.strip()]
        if source_vertical or not texts or fonts.is_cjk(region.text):  # CJK glyphs fill the em box
            return float(region.style.font_size or np.median(heights))
        if len(texts) != len(heights):  # lines unknown: the whole text against the typical line height
            texts, heights = [" ".join(texts)], [region.style.font_size or float(np.median(heights))]
        sizes = []
        for text, height in zip(texts, heights):
            reference = fonts.load_font(fonts.font_for_text(text), 100)
            _, top, _, bottom = reference.getbbox(text, anchor="ls")
            sizes.append(height / min(1.2, max(0.4, (bottom - top) / 100)))
        return float(np.median(sizes))

    def _outline_color(self, color: tuple[int, int, int], region: TextRegion,
                       behind: np.ndarray) -> tuple[int, int, int] | None:
        """The outline colour, or None for no outline: in `auto` mode an outline is drawn when a tenth of the
        pixels behind the text contrast less than `min_contrast` with it (WCAG contrast ratio)."""
        if self.outline == "never":
            return None
        if self.outline == "auto":
            ratios = contrast_ratio(np.asarray(color, np.float32), behind.reshape(-1, 3).astype(np.float32))
            if ratios.size == 0 or np.percentile(ratios, 10) >= self.min_contrast:
                return None
        background = region.style.background_color
        # The source's own background colour, when it stands out from the text (it did in the original).
        if background and contrast_ratio(np.asarray(color, np.float32), np.asarray([background], np.float32))[0] >= 2.0:
            return tuple(background)
        return contrasting_color(np.asarray([color]))


def region_box(region: TextRegion) -> tuple[float, float, float, float] | None:
    """The box to draw in: the union of the region's polygon and its lines (None if it has neither)."""
    points = [tuple(point) for point in region.polygon]
    points += [(line[0], line[1]) for line in region.lines] + [(line[2], line[3]) for line in region.lines]
    if not points:
        return None
    xs, ys = [point[0] for point in points], [point[1] for point in points]
    if max(xs) - min(xs) < 1 or max(ys) - min(ys) < 1:
        return None
    return float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))


def grown_boxes(box, alignment: str, vertical: bool, max_grow: float, line_pitch: float, edges: np.ndarray,
                margin: float, others: list) -> list[tuple[float, float, float, float]]:
    """Boxes larger than `box`, smallest first: longer lines (up to `max_grow` of the box's length, away
    from the aligned edge) and up to two more lines (half above, half below). A box is kept only inside the
    image (`margin` pixels from its edges, or as close as the box already is), clear of other regions, and
    over free space: plain background, so a translation never spreads over a picture's content.
    """
    x0, y0, x1, y1 = box
    image_height, image_width = edges.shape[:2]
    left, top = min(margin, x0), min(margin, y0)
    right, bottom = max(image_width - margin, x1), max(image_height - margin, y1)
    length = (y1 - y0) if vertical else (x1 - x0)
    candidates = []
    for along in (0.0, 0.15, 0.3, 0.5, 0.75, 1.0):
        for extra_lines in (0, 1, 2):
            if along == 0 and extra_lines == 0:
                continue
            grow, across = along * max_grow * length, extra_lines * line_pitch
            if vertical:  # columns get longer downwards; new columns are added on both sides
                candidate = (x0 - across / 2, y0, x1 + across / 2, y1 + grow)
            elif alignment == "left":
                candidate = (x0, y0 - across / 2, x1 + grow, y1 + across / 2)
            elif alignment == "right":
                candidate = (x0 - grow, y0 - across / 2, x1, y1 + across / 2)
            else:
                candidate = (x0 - grow / 2, y0 - across / 2, x1 + grow / 2, y1 + across / 2)
            candidates.append(candidate)
    candidates.sort(key=lambda candidate: (candidate[2] - candidate[0]) * (candidate[3] - candidate[1]))
    free = []
    for candidate in candidates:
        if candidate[0] < left or candidate[1] < top or candidate[2] > right or candidate[3] > bottom:
            continue
        if any(_overlaps(candidate, other) for other in others):
            continue
        if not _is_free(edges, candidate, box):
            continue
        free.append(candidate)
    return free


def _is_free(edges: np.ndarray, candidate, box) -> bool:
    """Whether the part of `candidate` outside `box` is plain background: no stronger edges than the box
    itself shows. Flat, gradient and grainy surfaces pass; a picture's outlines and objects do not."""
    x0, y0, x1, y1 = (int(round(v)) for v in candidate)
    area = edges[y0:y1, x0:x1]
    inside = np.zeros(area.shape, bool)
    bx0, by0, bx1, by1 = (int(round(v)) for v in box)
    inside[max(0, by0 - y0):max(0, by1 - y0), max(0, bx0 - x0):max(0, bx1 - x0)] = True
    if inside.all():
        return True
    # The box was erased, so its edges are the background's own grain.
    tolerance = max(24.0, 1.5 * float(np.percentile(area[inside], 98))) if inside.any() else 24.0
    return float(np.mean(area[~inside] > tolerance)) < 0.01


def edge_strength(pixels: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the lightly smoothed grey image: high on outlines and object borders."""
    grey = cv2.GaussianBlur(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def line_spacing_of(region: TextRegion, size: float) -> float:
    """Baseline-to-baseline distance in em: the original's when it had several lines, else a readable 1.2."""
    if len(region.lines) >= 2 and size > 0:
        vertical = region.style.direction == "vertical"
        starts = sorted(line[0] if vertical else line[1] for line in region.lines)
        gaps = np.diff(starts)
        if len(gaps) and float(np.median(gaps)) > 0:
            return float(np.clip(np.median(gaps) / size, 1.0, 1.6))
    return 1.2


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance (0 black .. 1 white) of RGB rows."""
    channels = np.asarray(rgb, np.float32) / 255.0
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def contrast_ratio(color: np.ndarray, others: np.ndarray) -> np.ndarray:
    """WCAG contrast ratio (1 .. 21) between one colour and each row of `others`."""
    first = relative_luminance(np.asarray(color).reshape(1, 3))[0]
    second = relative_luminance(others)
    return (np.maximum(first, second) + 0.05) / (np.minimum(first, second) + 0.05)


def contrasting_color(pixels: np.ndarray) -> tuple[int, int, int]:
    """Black or white, whichever stands out more from the median of `pixels`."""
    if len(pixels) == 0:
        return (0, 0, 0)
    median = np.median(np.asarray(pixels, np.float32), axis=0)
    black, white = np.zeros(3, np.float32), np.full(3, 255, np.float32)
    dark_ratio = contrast_ratio(black, median[None])[0]
    light_ratio = contrast_ratio(white, median[None])[0]
    return (0, 0, 0) if dark_ratio >= light_ratio else (255, 255, 255)
