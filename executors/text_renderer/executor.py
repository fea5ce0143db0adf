import concurrent.futures
import dataclasses
from typing import cast

import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests
from PIL import Image

from executors.text_renderer.backends import LAYOUTS, Layout, hyphenation_points
from executors.text_renderer.self_check import flag_illegible, flag_source_left, read_sources
from transmodal import fonts
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import ConfigurationError
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image, encode_image, is_handover, to_lab
from transmodal.ocr.tesseract import TesseractEngine
from transmodal.processing import fail_invalid_request, for_each_doc, traced

OUTLINE_MODES = ("auto", "always", "never")
# Comic lettering: one size across the page, and a comic face where the source was lettered in capitals.
COMIC_KINDS = ("balloon", "caption")
GAP = 3  # pixels kept clear between a translation and any other block
# A text whose box covers less than this share of its container is a label on a panel, not the panel's
# text: drawn near where it was. Balloons' and captions' texts cover 0.25-0.6 of them on the real comic pages;
# a switch's "OFF" 0.08, one line of a signboard's list 0.08-0.17.
LABEL_SHARE = 0.2
LABEL_MAX_GROW = 1.5  # a label's lines may grow to 2.5 times its length (a text on the picture: `max_grow`)
STROKE_RATIO = 1 / 15  # the outline's width, in em
RETRY_STROKE_RATIO = 1 / 8  # the stronger outline of the self-check's second try


@dataclasses.dataclass
class Plan:
    """What the renderer decides about a region before placing it."""

    region: TextRegion
    text: str  # as drawn: capitals restored
    font_path: str
    vertical: bool
    alignment: str
    box: tuple[float, float, float, float]  # the source text's own box
    container: np.ndarray | None  # int32 polygon, or None when the text stands on the picture
    # The container's bounding box in the image: its corner, its mask there, and the mask less the margin.
    window: tuple[int, int, np.ndarray, np.ndarray] | None
    target: float  # the source's size, in em
    spacing: float
    max_size: int
    behind: np.ndarray  # the pixels the text goes on (N x 3): the container's, else the text box's
    color: tuple[int, int, int]
    outline_color: tuple[int, int, int] | None  # None: no outline


@dataclasses.dataclass
class Placement:
    """A layout and the area it was laid out in: `area` is a mask whose top-left corner is at (x0, y0)."""

    layout: Layout
    x0: int
    y0: int
    area: np.ndarray
    clip: np.ndarray  # where drawing is allowed: the area, or for an overflowing text its container less obstacles


class TextRenderer(Executor):
    """Draws each region's translation into the (erased) image, inside its container, in its colour.

    A region with a `container` (a speech balloon, a caption box, a sign panel) gets its text fitted to the
    container's shape, less a margin: lines are as long as the shape is wide at their height, so they get
    shorter towards the top and bottom of a balloon. A region without one gets its own box, which may grow
    into free space. Another block (a region's box or container, or a translation already drawn) is never
    drawn over. The size is the largest that fits, up to the original's; balloons and captions share one
    size per page where they can. A text that fits nowhere at `min_font_size` is drawn at that size,
    clipped to its container, and flagged "overflow". Each drawn text is checked for contrast against what
    surrounds it, redrawn once with a stronger outline if it is too low, then flagged "illegible". Then the
    finished image is read again with Tesseract (`self_check`, self_check.py): a block whose translation
    cannot be read back is drawn once more in the most contrasting colours with a strong outline, and
    flagged "illegible" if that reads no better; one whose source can still be read is flagged "source_left".
    Regions flagged "untouched" (numbers, names) are left exactly as they are.
    """

    def __init__(
        self,
        backend: str = "pillow",
        backend_options: dict | None = None,
        font: str | None = None,
        bold: bool = False,
        comic_font: str = "auto",
        min_font_size: int = 9,
        max_scale: float = 1.0,
        outline: str = "auto",
        line_spacing: float | None = None,
        max_grow: float = 0.5,
        container_margin: float = 0.05,
        same_size: bool = True,
        min_contrast: float = 3.0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        self_check: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The finished image read again with Tesseract (flags "illegible", "source_left"): self_check.py.
        self.checker = TesseractEngine() if self_check else None
        if outline not in OUTLINE_MODES:
            raise ConfigurationError(f"outline must be one of {', '.join(OUTLINE_MODES)}, got {outline!r}")
        self.layouts = LAYOUTS.create(backend, **(backend_options or {}))
        self.font = font
        self.bold = bold
        if comic_font == "auto":
            # Bold: comic lettering is heavy, and the regular face looks faint beside the artwork.
            self.comic_font = fonts.comic_font(bold=True)  # None where fonts-comic-neue is not installed
        else:
            self.comic_font = None if comic_font == "never" else comic_font
        self.min_font_size = min_font_size
        self.max_scale = max_scale
        self.outline = outline
        self.line_spacing = line_spacing
        self.max_grow = max_grow
        self.container_margin = container_margin
        self.same_size = same_size
        self.min_contrast = min_contrast
        self.max_pixels = max_pixels

    @requests
    def render(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        for_each_doc(docs, self.metas.name, self._render_doc)
        return traced(docs, self)

    def _render_doc(self, doc: MediaDoc) -> None:
        if not doc.regions:
            return
        pixels = decode_image(doc.image, self.max_pixels)
        handed_over = is_handover(doc.image)  # the eraser's uncompressed hand-over leaves as PNG, drawn or not
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            # The self-check's reading of the erased source areas (a Tesseract process) runs while we draw.
            sources = (
                pool.submit(read_sources, self.checker, pixels, list(doc.regions), doc.source_lang)
                if self.checker is not None
                else None
            )
            png = self._draw_regions(doc, pixels, pool)
            if sources is not None:
                flag_source_left(list(doc.regions), sources.result())
            if png is not None:
                doc.image = png.result()  # type: ignore[assignment]  # docarray validates the bytes into ImageBytes
            elif handed_over:
                doc.image = encode_image(pixels)  # type: ignore[assignment]  # docarray validates the bytes into ImageBytes

    def _draw_regions(
        self, doc: MediaDoc, pixels: np.ndarray, pool: concurrent.futures.Executor
    ) -> concurrent.futures.Future[bytes] | None:
        """The PNG of the image with every translation drawn and self-checked, as `pool` writes it, or None
        when none was drawn."""
        image = pixels.copy()  # drawn into; `pixels` stays the erased original the decisions are made on
        edges = edge_strength(pixels)
        plans = [self._plan(region, pixels) for region in doc.regions]
        # What each region occupies, for the others to keep clear of: its box (boxes of neighbouring blocks
        # that overlap shared out at the middle) and its container.
        separated = separate_boxes([region_box(region) for region in doc.regions])
        for index, plan in enumerate(plans):
            if plan is not None and plan.window is None and separated[index] is not None:
                plans[index] = dataclasses.replace(plan, box=separated[index])
        boxes = [box_polygon(box) for box in separated]
        containers = [container_polygon(region) for region in doc.regions]
        # What the eraser left in a container besides its fill (a sign's arrow, a logo): kept clear of too.
        # (Only for the regions to be drawn: no other asks for its obstacles.)
        marks = [
            [] if container is None or plan is None else marks_inside(pixels, container)
            for container, plan in zip(containers, plans)
        ]

        def obstacles(index: int, drawn: list) -> list[np.ndarray]:
            plan = plans[index]
            assert plan is not None  # asked only for regions with a plan
            x0, y0, x1, y1 = plan.box
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            result = list(drawn) + marks[index]
            for other in range(len(doc.regions)):
                if other == index:
                    continue
                if boxes[other] is not None:
                    result.append(boxes[other])
                # A container that holds this text too (two blocks in one balloon) is shared, not in the way.
                container = containers[other]
                if container is not None and cv2.pointPolygonTest(container, centre, False) < 0:
                    result.append(container)
            return result

        # 1. One size for the page's lettering: the median of the sizes its balloons and captions would get on
        # their own. Blocks that fit larger come down to it; blocks that need smaller shrink alone.
        page_size = None
        if self.same_size:
            sizes = []
            for index, plan in enumerate(plans):
                if plan is not None and _is_lettering(plan):
                    placement = self._place(plan, edges, obstacles(index, []), plan.max_size)
                    if placement is not None:
                        sizes.append(placement.layout.size)
            if len(sizes) >= 2:
                page_size = int(np.median(sizes))
        # 2. Draw, each translation kept clear of those drawn before it.
        drawn: list[np.ndarray | None] = []
        caps: dict[int, int] = {}
        for index, plan in enumerate(plans):
            if plan is None:
                continue
            cap = plan.max_size
            if page_size is not None and _is_lettering(plan):
                cap = min(cap, page_size)
            caps[index] = cap
            drawn_box = self._render_region(plan, image, edges, obstacles(index, drawn), cap)
            if drawn_box is not None:
                plan.region.drawn_box = drawn_box
                drawn.append(box_polygon(drawn_box))
        if not drawn:
            return None
        # The PNG is written while the self-check reads (this thread then only waits on Tesseract): 0.15 s of
        # a comic page's 1.2 s. A retry the check keeps changes the image, which is then written again.
        png = pool.submit(encode_image, image.copy())
        if self.checker is not None and self._check_and_retry(doc, plans, pixels, image, edges, caps, obstacles):
            png.cancel()
            png = pool.submit(encode_image, image)
        return png

    def _check_and_retry(self, doc: MediaDoc, plans: list, pixels, image, edges, caps: dict, obstacles) -> bool:
        """The self-check (self_check.py), and one more try for each block it found illegible though it was
        drawn as legible: drawn again with a strong outline in the colours that contrast most (OCR, like a
        reader, can fail on text whose colours pass the contrast check: lettering over a busy picture). The
        retry is kept if it reads back; otherwise the first drawing stays, flagged. Returns whether a retry
        was kept (the image changed)."""
        assert self.checker is not None
        regions = list(doc.regions)
        before = {index: "illegible" in region.flags for index, region in enumerate(regions)}
        changed = False
        flag_illegible(self.checker, image, regions, doc.target_lang)
        for index, plan in enumerate(plans):
            region = regions[index]
            if plan is None or before[index] or "illegible" not in region.flags or len(region.drawn_box) != 4:
                continue
            x0, y0, x1, y1 = (int(v) for v in region.drawn_box)
            first = image[y0:y1, x0:x1].copy()
            image[y0:y1, x0:x1] = pixels[y0:y1, x0:x1]  # the erased original under the first drawing
            others_drawn = [
                box_polygon(other.drawn_box) for other in regions if other is not region and len(other.drawn_box) == 4
            ]
            others = [box for box in obstacles(index, others_drawn) if box is not None]
            color = contrasting_color(plan.behind)
            retry = dataclasses.replace(plan, color=color, outline_color=contrasting_color(np.asarray([color])))
            placement = self._place(retry, edges, others, caps[index], RETRY_STROKE_RATIO)
            if placement is None:
                image[y0:y1, x0:x1] = first
                continue
            attempt = image.copy()
            drawing = self._draw(placement, attempt, retry.color, retry.outline_color)
            drawn_box = drawing.commit(attempt, placement)
            check = region.model_copy(deep=True)
            check.flags = [flag for flag in check.flags if flag != "illegible"]
            check.drawn_box = drawn_box or []
            if drawn_box is not None:
                flag_illegible(self.checker, attempt, [check], doc.target_lang)
            if drawn_box is not None and "illegible" not in check.flags:
                image[:] = attempt
                region.flags = check.flags
                region.drawn_box = drawn_box
                changed = True
            else:
                image[y0:y1, x0:x1] = first
        return changed

    def _plan(self, region: TextRegion, pixels: np.ndarray) -> Plan | None:
        """How to draw a region, or None when it is not drawn (untouched, no text, nowhere to draw)."""
        if "untouched" in region.flags:  # the source is kept pixel for pixel: the eraser left it too
            return None
        text = region.translation if region.translation is not None else region.text
        if not text or not text.strip():
            return None
        container = container_polygon(region)
        own_box = region_box(region)  # (None: the region has no geometry of its own; its container's box stands in)
        box = own_box
        if box is None and container is not None:
            x, y, w, h = cv2.boundingRect(container)
            box = (float(x), float(y), float(x + w), float(y + h))
        if box is None:
            return None
        # The source's line breaks do not carry over: the translation is wrapped afresh to fit.
        text = text.strip()
        capitals = is_capitals(region.text)
        if capitals:  # lettering in capitals stays in capitals
            text = text.upper()
        font_path = self._font_path(text, region.kind, capitals)
        vertical = region.style.direction == "vertical" and fonts.is_cjk(text)
        target = self._target_size(region, box, font_path)
        spacing = self.line_spacing or line_spacing_of(region, target)
        # Balloon lettering is centred: the shape is symmetric, whatever alignment the detector guessed.
        alignment = "center" if region.kind == "balloon" else region.style.alignment
        window = None
        x0: float  # int corner of the container window, or the box's float corner
        y0: float
        if container is not None:
            x0, y0, shape = container_window(container, pixels.shape)
            # A label on a larger panel (a switch's "OFF", one line of a signboard's list) is placed as a
            # text on the picture is, at its own box (grown into free space if need be: the panel's edge
            # stops the growth), not in the middle of the panel.
            label = own_box is not None and _share_of(own_box, shape) < LABEL_SHARE
            window = None if label else (x0, y0, shape, inner(shape, self.container_margin))
            behind = pixels[y0 : y0 + shape.shape[0], x0 : x0 + shape.shape[1]][shape]
        else:
            x0, y0, x1, y1 = box
            behind = pixels[int(y0) : max(int(y0) + 1, int(np.ceil(y1))), int(x0) : max(int(x0) + 1, int(np.ceil(x1)))]
        behind = behind.reshape(-1, 3)
        color = _rgb(region.style.color) if region.style.color else contrasting_color(behind)
        return Plan(
            region,
            text,
            font_path,
            vertical,
            alignment,
            box,
            container,
            window,
            target,
            spacing,
            max(self.min_font_size, int(round(self.max_scale * target))),
            behind,
            color,
            self._outline_color(color, region, behind),
        )

    def _font_path(self, text: str, kind: str = "text", capitals: bool = False) -> str:
        if self.comic_font and kind in COMIC_KINDS and capitals and fonts.covers(self.comic_font, text):
            return self.comic_font
        if self.font and fonts.covers(self.font, text):
            return self.font
        return fonts.font_for_text(text, bold=self.bold)  # the override lacks this script's glyphs

    # Placing: the area a text may take, and the largest layout that fits it.

    def _fit(self, plan: Plan, area: np.ndarray, cap: int, stroke_ratio: float) -> Layout | None:
        return self.layouts.fit(
            plan.text,
            plan.font_path,
            area,
            cap,
            self.min_font_size,
            plan.vertical,
            plan.spacing,
            stroke_ratio,
            plan.alignment,
            hyphenation_points,
        )

    def _place(
        self, plan: Plan, edges: np.ndarray, obstacles: list, cap: int, stroke_ratio: float | None = None
    ) -> Placement | None:
        """The largest layout, up to `cap`, at `min_font_size` or more, in the container or the (grown) box."""
        if stroke_ratio is None:
            stroke_ratio = STROKE_RATIO if plan.outline_color is not None else 0.0
        x0: float  # int corner of the container window, or the box's float corner
        y0: float
        if plan.window is not None:
            x0, y0, shape, inside = plan.window
            area = inside & free_of(obstacles, x0, y0, shape.shape)
            layout = self._fit(plan, area, cap, stroke_ratio)
            return Placement(layout, x0, y0, area, area) if layout is not None else None
        # The text's box, or a larger one grown into free space: the text as close to its original size as it
        # can be, for as little growth as possible (growing the box 2x costs 30 % of the size).
        x0, y0, x1, y1 = plan.box
        width, height = x1 - x0, y1 - y0
        others = [polygon_box(obstacle) for obstacle in obstacles]
        # A label may grow further: the panel's edge round it bounds the growth.
        max_grow = self.max_grow if plan.container is None else max(self.max_grow, LABEL_MAX_GROW)
        grown = grown_boxes(
            plan.box,
            plan.alignment,
            plan.vertical,
            max_grow,
            plan.spacing * plan.target,
            edges,
            0.3 * plan.target,
            others,
        )
        best, best_score = None, -np.inf
        for candidate in [plan.box] + grown:  # smallest first
            growth = np.sqrt((candidate[2] - candidate[0]) * (candidate[3] - candidate[1]) / (width * height)) - 1
            if best_score >= 1 - 0.3 * growth:
                break  # even the full size could not pay for this much growth
            bx0, by0, area = box_area(candidate, edges.shape, obstacles)
            layout = self._fit(plan, area, cap, stroke_ratio)
            if layout is None:
                continue
            score = min(layout.size, plan.target) / plan.target - 0.3 * growth
            if score > best_score:
                best, best_score = Placement(layout, bx0, by0, area, area), score
        return best

    def _place_overflowing(self, plan: Plan, image_shape, obstacles: list, stroke_ratio: float) -> Placement | None:
        """The text at `min_font_size`, wrapped to the inner shape, clipped to the container (or box) less
        obstacles: what does not fit is cut off rather than drawn over the picture or another block."""
        if plan.window is not None:
            x0, y0, shape, inside = plan.window
            clip = shape & free_of(obstacles, x0, y0, shape.shape)
            area = inside & clip
            if not area.any():
                area = clip
        else:
            x0, y0, clip = box_area(plan.box, image_shape, obstacles)
            area = clip
        layout = self.layouts.layout(
            plan.text,
            plan.font_path,
            self.min_font_size,
            area,
            plan.vertical,
            plan.spacing,
            stroke_ratio,
            plan.alignment,
            hyphenation_points,
            True,
            False,
        )
        return Placement(layout, x0, y0, area, clip) if layout is not None else None

    # Drawing and the self-check.

    def _render_region(
        self, plan: Plan, image: np.ndarray, edges: np.ndarray, obstacles: list, cap: int
    ) -> list[float] | None:
        """Place, draw, check; returns the drawn box (None when nothing could be drawn)."""
        color, outline_color = plan.color, plan.outline_color
        stroke_ratio = STROKE_RATIO if outline_color is not None else 0.0
        placement = self._place(plan, edges, obstacles, cap, stroke_ratio)
        if placement is None:
            placement = self._place_overflowing(plan, image.shape, obstacles, stroke_ratio)
        if placement is None:
            plan.region.add_flag("overflow")  # other blocks fill the whole container
            return None
        drawing = self._draw(placement, image, color, outline_color)
        if not drawing.legible:
            # First the source's own look, only deeper: photographed lettering is often faint (dark grey on
            # light grey), and its colour pushed towards black (or white) reads well without the strong
            # outline of the next try, which at small sizes swamps the letters.
            deeper = deepened_color(color, plan.behind, self.min_contrast)
            if deeper != color:
                retry_drawing = self._draw(placement, image, deeper, outline_color)
                if retry_drawing.legible:
                    color, drawing = deeper, retry_drawing
        if not drawing.legible and self.outline != "never":
            # One more try: a strong black or white outline round the text; and for a mid-grey fill, which
            # neither sets off, the fill colour that contrasts most with the background.
            outline_color = contrasting_color(np.asarray([color]))
            if contrast_ratio(np.asarray(color), np.asarray([outline_color]))[0] < self.min_contrast:
                color = contrasting_color(plan.behind)
                outline_color = contrasting_color(np.asarray([color]))
            stroke_ratio = RETRY_STROKE_RATIO
            retry = self._place(plan, edges, obstacles, placement.layout.size, stroke_ratio) or self._place_overflowing(
                plan, image.shape, obstacles, stroke_ratio
            )
            if retry is not None:
                placement, drawing = retry, self._draw(retry, image, color, outline_color)
        if not placement.layout.fits or drawing.spilled:
            plan.region.add_flag("overflow")
        if not drawing.legible:
            plan.region.add_flag("illegible")
        return drawing.commit(image, placement)

    def _draw(self, placement: Placement, image: np.ndarray, color, outline_color) -> "Drawing":
        """The text composited over the area's pixels (not yet written to the image), with its checks."""
        layout, area = placement.layout, placement.area
        height, width = area.shape
        # A one-em margin round the area, so that ink the layout put outside it can be seen (and cut).
        pad = layout.size
        fill = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
        self.layouts.draw(fill, layout, pad, pad, 255)
        full = fill
        if outline_color is not None and layout.stroke_width:
            full = Image.new("L", fill.size, 0)
            self.layouts.draw(full, layout, pad, pad, 255, 255)
        fill_alpha = np.asarray(fill, np.float32) / 255
        full_alpha = np.asarray(full, np.float32) / 255
        allowed = np.zeros(fill_alpha.shape, bool)
        allowed[pad : pad + height, pad : pad + width] = placement.clip
        # Self-check: a glyph's box outside the allowed area (the container less other blocks).
        spilled = bool((full_alpha[~allowed] > 0.5).any())
        fill_alpha = (fill_alpha * allowed)[pad : pad + height, pad : pad + width, None]
        full_alpha = (full_alpha * allowed)[pad : pad + height, pad : pad + width, None]
        x0, y0 = placement.x0, placement.y0
        behind = image[y0 : y0 + height, x0 : x0 + width].astype(np.float32)
        fill_color = np.asarray(color, np.float32)
        outline = np.asarray(outline_color, np.float32) if outline_color is not None else fill_color
        composed = behind * (1 - full_alpha) + outline * (full_alpha - fill_alpha) + fill_color * fill_alpha
        composed = np.clip(np.round(composed), 0, 255).astype(np.uint8)
        legible = self._legible(composed, fill_alpha[..., 0], color)
        return Drawing(composed, full_alpha[..., 0], spilled, legible)

    def _legible(self, composed: np.ndarray, fill_alpha: np.ndarray, color) -> bool:
        """Whether the glyphs stand out from what touches them (their outline, or the background): the WCAG
        contrast ratio between the fill colour and the pixels just outside the strokes, for three quarters
        of those pixels at least, in each quarter of the text's width (a photographed page darkens towards
        its gutter: the lines' ends there can be unreadable while the block as a whole passes)."""
        strokes = fill_alpha > 0.1
        ring = cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool) & ~strokes
        if not ring.any():
            return False
        ratios = contrast_ratio(np.asarray(color, np.float32), composed[ring].astype(np.float32))
        if float(np.percentile(ratios, 25)) < self.min_contrast:
            return False
        columns = np.nonzero(ring)[1]
        edges = np.linspace(columns.min(), columns.max() + 1, 5)
        for left, right in zip(edges, edges[1:]):
            part = ratios[(columns >= left) & (columns < right)]
            if len(part) >= 50 and float(np.percentile(part, 25)) < self.min_contrast:
                return False
        return True

    def _target_size(self, region: TextRegion, box, font_path: str) -> float:
        """The font size (em) at which lines come out as tall as the original's.

        A line box runs from the tallest ascender to the lowest descender the line actually has: "museum" is
        about 0.75 em tall, "copy" 0.95 em. When the source text of each line is known, its ink height in the
        font drawn with converts each line's height to an em size; the median over lines is the target.
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
            reference = fonts.load_font(font_path, 100)
            _, top, _, bottom = reference.getbbox(text, anchor="ls")
            sizes.append(height / min(1.2, max(0.4, (bottom - top) / 100)))
        return float(np.median(sizes))

    def _outline_color(
        self, color: tuple[int, int, int], region: TextRegion, behind: np.ndarray
    ) -> tuple[int, int, int] | None:
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
            return _rgb(background)
        return contrasting_color(np.asarray([color]))


@dataclasses.dataclass
class Drawing:
    """A text drawn over a copy of its area's pixels, with the self-check's findings."""

    composed: np.ndarray  # the area's pixels with the text
    coverage: np.ndarray  # 0..1, fill and outline, after clipping
    spilled: bool  # glyphs reached outside the allowed area (and were cut there)
    legible: bool

    def commit(self, image: np.ndarray, placement: Placement) -> list[float] | None:
        """Write the drawing into `image`; the box of the drawn pixels, or None if none were."""
        ys, xs = np.nonzero(self.coverage > 0.05)
        if len(xs) == 0:
            return None
        height, width = self.coverage.shape
        x0, y0 = placement.x0, placement.y0
        image[y0 : y0 + height, x0 : x0 + width] = self.composed
        return [float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1)]


def is_capitals(text: str | None) -> bool:
    """Whether a text is lettered in capitals (nine in ten of its cased letters, and two at least)."""
    letters = [char for char in text or "" if char.lower() != char.upper()]
    return len(letters) >= 2 and sum(char.isupper() for char in letters) >= 0.9 * len(letters)


def container_polygon(region: TextRegion) -> np.ndarray | None:
    if len(region.container) < 3:
        return None
    return np.round(np.asarray(region.container, np.float64)).astype(np.int32)


def _rgb(values) -> tuple[int, int, int]:
    """A stored colour (a list of three ints) as the tuple drawing takes."""
    return cast(tuple[int, int, int], tuple(values))


def box_polygon(box) -> np.ndarray | None:
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def polygon_box(polygon: np.ndarray) -> tuple[float, float, float, float]:
    xs, ys = polygon[:, 0], polygon[:, 1]
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def free_of(obstacles: list[np.ndarray], x0: int, y0: int, shape: tuple[int, int]) -> np.ndarray:
    """True where no obstacle polygon (kept GAP pixels away) lies, in the window of `shape` at (x0, y0)."""
    height, width = shape
    taken: np.ndarray = np.zeros((height + 2 * GAP, width + 2 * GAP), np.uint8)
    for polygon in obstacles:
        points = np.round(np.asarray(polygon, np.float64) - [x0 - GAP, y0 - GAP]).astype(np.int32)
        cv2.fillPoly(taken, [points], 1)
    taken = cv2.dilate(taken, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GAP + 1, 2 * GAP + 1)))
    return taken[GAP : GAP + height, GAP : GAP + width] == 0


def container_window(container: np.ndarray, image_shape) -> tuple[int, int, np.ndarray]:
    """The container's bounding box (within the image): its corner, and the container's mask there."""
    x, y, w, h = cv2.boundingRect(container)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(image_shape[1], x + w), min(image_shape[0], y + h)
    shape = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    cv2.fillPoly(shape, [container - np.array([x0, y0], np.int32)], 1)
    return x0, y0, shape.astype(bool)


# A mark in a container differs from its fill by this much (Lab): far above JPEG noise on a flat panel,
# below a white arrow on a road sign's green (about 80) or a dark logo on a white balloon.
MARK_DISTANCE = 25.0
# Over this share of a container's inside, what differs from its fill is texture (a photo's panel, a
# screentone), not marks to keep clear of.
MAX_MARK_SHARE = 0.15


def marks_inside(pixels: np.ndarray, container: np.ndarray) -> list[np.ndarray]:
    """The boxes (as polygons) of what stands out from a container's fill after erasing: a road sign's
    arrows, a logo, a text left untouched. A translation drawn over them would hide them (a traveller
    loses the sign's arrow). Empty when the container's inside is not flat enough to tell marks from it."""
    x0, y0, shape = container_window(container, pixels.shape)
    if shape.sum() < 100:
        return []
    # Three pixels in from the outline: its anti-aliased inner edge is no mark.
    kernel = np.ones((7, 7), np.uint8)
    inside = cv2.erode(shape.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    if not inside.any():
        return []
    rgb = pixels[y0 : y0 + shape.shape[0], x0 : x0 + shape.shape[1]]
    lab = to_lab(rgb)
    fill = np.median(lab[inside], axis=0)
    standing_out = (np.linalg.norm(lab - fill, axis=2) > MARK_DISTANCE) & inside
    if standing_out.sum() > MAX_MARK_SHARE * inside.sum():
        return []
    count, _, stats, _ = cv2.connectedComponentsWithStats(standing_out.astype(np.uint8), connectivity=8)
    boxes = []
    for left, top, width, height, area in stats[1:]:
        if area >= 30 and min(width, height) >= 4:  # specks of noise are no marks
            box = (x0 + left - 2, y0 + top - 2, x0 + left + width + 2, y0 + top + height + 2)
            boxes.append(cast(np.ndarray, box_polygon(box)))
    return boxes


def _is_lettering(plan: Plan) -> bool:
    """A balloon's or caption's text, which takes the page's one size; a label on a panel keeps its own."""
    return plan.region.kind in COMIC_KINDS and plan.window is not None


def _share_of(box, shape: np.ndarray) -> float:
    """The share of a container's area (its mask `shape`) that a text's box covers."""
    return (box[2] - box[0]) * (box[3] - box[1]) / max(1, int(shape.sum()))


def box_area(box, image_shape, obstacles: list) -> tuple[int, int, np.ndarray]:
    """A box's window (whole pixels, within the image) and where in it no obstacle lies."""
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(image_shape[1], int(np.ceil(box[2]))), min(image_shape[0], int(np.ceil(box[3])))
    return x0, y0, free_of(obstacles, x0, y0, (max(0, y1 - y0), max(0, x1 - x0)))


def inner(shape: np.ndarray, margin_ratio: float) -> np.ndarray:
    """The shape less a margin (`margin_ratio` of its smaller side, 2 px at least) all round: lettering keeps
    clear of a balloon's outline."""
    ys, xs = np.nonzero(shape)
    if len(xs) == 0:
        return shape
    margin = max(2, int(round(margin_ratio * min(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    # Outside the window counts as outside the shape, so a shape touching the window's edge shrinks too.
    return cv2.erode(shape.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


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


def separate_boxes(boxes: list) -> list:
    """The boxes with every overlap between two of them cut at its middle, across its thinner side: on a
    photographed page the line boxes of neighbouring paragraphs overlap by a few pixels (a curved page makes
    them tall), and each paragraph would otherwise lose the whole shared band to the other. A box that holds
    the other's middle (one block inside another) is left as it is."""
    result = [[0.0] * 4 if box is None else [float(v) for v in box] for box in boxes]  # None: never touched
    for i, first in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            second = boxes[j]
            if first is None or second is None:
                continue
            overlap_x = min(first[2], second[2]) - max(first[0], second[0])
            overlap_y = min(first[3], second[3]) - max(first[1], second[1])
            if overlap_x <= 0 or overlap_y <= 0:
                continue
            inside = any(
                a[0] <= (b[0] + b[2]) / 2 <= a[2] and a[1] <= (b[1] + b[3]) / 2 <= a[3]
                for a, b in ((first, second), (second, first))
            )
            if inside:
                continue
            upper, lower = (i, j) if first[1] <= second[1] else (j, i)
            left, right = (i, j) if first[0] <= second[0] else (j, i)
            if overlap_y <= overlap_x:  # stacked: share the band of rows
                middle = (max(first[1], second[1]) + min(first[3], second[3])) / 2
                result[upper][3] = min(result[upper][3], middle)
                result[lower][1] = max(result[lower][1], middle)
            else:  # side by side: share the band of columns
                middle = (max(first[0], second[0]) + min(first[2], second[2])) / 2
                result[left][2] = min(result[left][2], middle)
                result[right][0] = max(result[right][0], middle)
    return [None if box is None else tuple(cut) for box, cut in zip(boxes, result)]


def grown_boxes(
    box,
    alignment: str,
    vertical: bool,
    max_grow: float,
    line_pitch: float,
    edges: np.ndarray,
    margin: float,
    others: list,
) -> list[tuple[float, float, float, float]]:
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
    inside[max(0, by0 - y0) : max(0, by1 - y0), max(0, bx0 - x0) : max(0, bx1 - x0)] = True
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


def deepened_color(color: tuple[int, int, int], behind: np.ndarray, min_contrast: float) -> tuple[int, int, int]:
    """`color` moved towards black (text darker than the median of `behind`) or white (lighter) just far
    enough to reach `min_contrast` with the darkest (lightest) tenth of `behind`, keeping its hue; black or
    white when even that falls short."""
    if len(behind) == 0:
        return color
    behind = np.asarray(behind, np.float32)
    median = np.median(behind, axis=0)[None]
    start = np.asarray(color, np.float32)
    darker = relative_luminance(start[None])[0] <= relative_luminance(median)[0]
    end = np.zeros(3, np.float32) if darker else np.full(3, 255, np.float32)
    # Against the part of the background nearest the text's own lightness (the darker tenth for dark text):
    # a background that darkens towards one side is read there too.
    luminance = relative_luminance(behind)
    near = (
        behind[luminance <= np.percentile(luminance, 10)]
        if darker
        else behind[luminance >= np.percentile(luminance, 90)]
    )
    reference = np.median(near, axis=0)[None]
    for step in np.linspace(0.0, 1.0, 11):
        candidate = start + step * (end - start)
        if contrast_ratio(candidate, reference)[0] >= min_contrast:
            break
    return _rgb([int(value) for value in np.round(candidate)])


def contrasting_color(pixels: np.ndarray) -> tuple[int, int, int]:
    """Black or white, whichever stands out more from the median of `pixels`."""
    if len(pixels) == 0:
        return (0, 0, 0)
    median = np.median(np.asarray(pixels, np.float32), axis=0)
    black, white = np.zeros(3, np.float32), np.full(3, 255, np.float32)
    dark_ratio = contrast_ratio(black, median[None])[0]
    light_ratio = contrast_ratio(white, median[None])[0]
    return (0, 0, 0) if dark_ratio >= light_ratio else (255, 255, 255)
