import dataclasses

import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests

from executors.text_eraser.backends import ERASERS
from executors.text_eraser.learned import TextSegmenterMask
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import ConfigurationError
from transmodal.media import DEFAULT_MAX_PIXELS, IMAGE_FORMATS, commonest_colour, decode_image, encode_image, to_lab
from transmodal.processing import fail_invalid_request, for_each_doc, traced


class TextEraser(Executor):
    """Removes the text of every region from the document's image, so a translation can be drawn in its place.

    Only the text's own pixels are erased, never a balloon, caption box or sign panel around it:

    - a region inside a container (`region.container`, a balloon's or panel's outline): the pixels that
      differ from the container's fill near the lines are the text; they are painted with the fill (a
      smooth model of it), or inpainted if the fill is textured. The container's border is never touched.
    - any other region: line by line, the text pixels are those far from the background, modelled from a
      ring around the line or, where the ring sees something else (the line's panel ends just past it),
      from the line's own majority colour; the inpainting backend fills them in.
    - a region flagged `untouched` (its translation is its text: numbers, codes, names) stays exactly as it
      was, pixel for pixel, even where a neighbouring region's erasure reaches it.

    Either polarity works (dark on light, light on dark, colour on colour). The colours measured on the way
    are written to each region's style (`color`, `background_color`) for the TextRenderer. Documents
    without regions pass through unchanged.

    `mask` chooses who says which pixels are text: `heuristic` (the above), `network` (the learned text
    segmenter, inside each region's padded line boxes and its container; everything then goes to the
    inpainter) or `both` (the heuristic's pixels plus the network's).
    """

    MASKS = ("heuristic", "network", "both")

    def __init__(
        self,
        backend: str = "opencv-telea",
        backend_options: dict | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        mask_dilation: int = 0,
        mask: str = "heuristic",
        mask_options: dict | None = None,
        image_format: str = "PNG",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mask not in self.MASKS:
            raise ConfigurationError(f"unknown mask {mask!r}: one of {', '.join(self.MASKS)}")
        if image_format.upper() not in IMAGE_FORMATS:
            raise ConfigurationError(f"unknown image_format {image_format!r}: one of {', '.join(IMAGE_FORMATS)}")
        self.image_format = image_format.upper()
        self.inpainter = ERASERS.create(backend, **(backend_options or {}))
        self.max_pixels = max_pixels
        self.mask_dilation = mask_dilation
        self.mask = mask
        self.segmenter = TextSegmenterMask(**(mask_options or {})) if mask != "heuristic" else None

    @requests
    def erase(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        for_each_doc(docs, self.metas.name, self._erase_doc)
        return traced(docs, self)

    def _erase_doc(self, doc: MediaDoc) -> None:
        if not doc.regions:
            return
        pixels = decode_image(doc.image, self.max_pixels)
        pixels = pixels if pixels.flags.writeable else pixels.copy()  # a decoded image is read-only
        # Memory: the page is held once (a 6000x6000 page is 108 MB); every region's text pixels and fills
        # are kept in windows around it, and the page is painted and inpainted in place once all regions
        # were read from the original pixels.
        found_all: list[TextPixels] = []
        kept: list[tuple[tuple[slice, slice], np.ndarray]] = []  # untouched regions' areas and their pixels
        kept_letters: list[TextPixels] = []  # untouched regions' own letters
        for region in doc.regions:
            if UNTOUCHED in region.flags:
                kept += [(area, pixels[area].copy()) for area in region_areas(region, pixels.shape)]
                found = region_text_mask(pixels, region, self.mask_dilation)
                kept_letters.append(own_letters(found, _boxes(region)))
            elif len(region.container) >= 3:
                found = container_text_mask(pixels, region, self.mask_dilation)
                found_all.append(self._with_network(pixels, region, found))
            else:
                found = region_text_mask(pixels, region, self.mask_dilation)
                found_all.append(self._with_network(pixels, region, found))
            if found.text_color is not None:
                region.style.color = found.text_color
            if found.background_color is not None:
                region.style.background_color = found.background_color
        mask = np.zeros(pixels.shape[:2], np.uint8)
        painted = np.zeros(pixels.shape[:2], bool) if kept else None  # where fills were painted, if it matters
        for found in found_all:
            found.add_to(mask)
            if found.paint is not None:
                (x0, y0), values, where = found.paint
                pixels[y0 : y0 + where.shape[0], x0 : x0 + where.shape[1]][where] = values[where]
                if painted is not None:
                    painted[y0 : y0 + where.shape[0], x0 : x0 + where.shape[1]] |= where
        if painted is not None:
            # An untouched block stays as it was: its letters always, and the rest of its area where no
            # neighbour's text is erased (line boxes of a sign overlap: restoring the whole area would put
            # back half of the line above).
            own = np.zeros(pixels.shape[:2], np.uint8)
            for letters in kept_letters:
                letters.add_to(own)
            for area, original in kept:
                restore = (own[area] > 0) | ((mask[area] == 0) & ~painted[area])
                pixels[area][restore] = original[restore]
                mask[area][own[area] > 0] = 0
        if not mask.any() and not any(found.paint is not None for found in found_all):
            return  # nothing found to erase: the image stays as it came, bytes and all
        doc.image = encode_image(self.inpainter.inpaint(pixels, mask), self.image_format)  # type: ignore[assignment]  # docarray validates the bytes into ImageBytes

    def _with_network(self, pixels: np.ndarray, region: TextRegion, found: "TextPixels") -> "TextPixels":
        """The region's text pixels as the `mask` option wants them: the heuristic's (colours are always
        the heuristic's), the network's instead, or both."""
        if self.segmenter is None:
            return found
        network = network_text_mask(pixels, region, self.segmenter, self.mask_dilation)
        if self.mask == "network":
            return dataclasses.replace(network, text_color=found.text_color, background_color=found.background_color)
        return found.union(network)


UNTOUCHED = "untouched"


@dataclasses.dataclass
class TextPixels:
    origin: tuple[int, int]  # (x, y) of the window of the image that `mask` covers
    mask: np.ndarray  # uint8 (height, width) of the window, 255 on text pixels left to the inpainter
    text_color: list[int] | None  # median RGB of the text's solid pixels
    background_color: list[int] | None  # median RGB of the background around the text
    # Text pixels already filled in, for a flat container: ((x, y) of a window, its RGB values (h, w, 3),
    # where to use them (h, w) bool). None when everything is left to the inpainter.
    paint: tuple | None = None

    def add_to(self, image_mask: np.ndarray) -> None:
        """Mark these text pixels in a mask of the whole image."""
        x, y = self.origin
        height, width = self.mask.shape
        image_mask[y : y + height, x : x + width] |= self.mask

    def union(self, other: "TextPixels") -> "TextPixels":
        """These text pixels and `other`'s in one window (this one's colours and paint)."""
        if not other.mask.size:
            return self
        if not self.mask.size:
            return dataclasses.replace(self, origin=other.origin, mask=other.mask)
        (ax, ay), (bx, by) = self.origin, other.origin
        x0, y0 = min(ax, bx), min(ay, by)
        x1 = max(ax + self.mask.shape[1], bx + other.mask.shape[1])
        y1 = max(ay + self.mask.shape[0], by + other.mask.shape[0])
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for (x, y), part in ((self.origin, self.mask), (other.origin, other.mask)):
            mask[y - y0 : y - y0 + part.shape[0], x - x0 : x - x0 + part.shape[1]] |= part
        return dataclasses.replace(self, origin=(x0, y0), mask=mask)

    def whole_mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """These text pixels as a uint8 mask of a whole image of `shape`."""
        image_mask = np.zeros(shape[:2], np.uint8)
        self.add_to(image_mask)
        return image_mask


NOTHING = np.zeros((0, 0), np.uint8)  # an empty window: no text pixels


def own_letters(found: TextPixels, boxes: list[tuple[int, int, int, int]]) -> TextPixels:
    """The letters of `found` whose middle lies in one of the region's line boxes: where line boxes
    overlap, the mask of a line also takes in the feet of the line above, which are not its own."""
    if not found.mask.size or not boxes:
        return found
    count, labels, _, centroids = cv2.connectedComponentsWithStats((found.mask > 0).astype(np.uint8), connectivity=8)
    x, y = found.origin
    inside = np.zeros(count, bool)
    for label in range(1, count):
        cx, cy = centroids[label][0] + x, centroids[label][1] + y
        inside[label] = any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in boxes)
    return dataclasses.replace(found, mask=(inside[labels] * 255).astype(np.uint8))


def region_areas(region: TextRegion, shape: tuple[int, ...]) -> list[tuple[slice, slice]]:
    """The areas (row and column slices) of a region's lines (or its box), padded enough to hold the
    letters' anti-aliased edges: the pixels that make up its text as it looks."""
    height, width = shape[:2]
    areas = []
    for x0, y0, x1, y1 in _boxes(region):
        pad = int(round(0.12 * float(region.style.font_size or min(x1 - x0, y1 - y0)))) + 2
        top, left = max(0, y0 - pad), max(0, x0 - pad)
        bottom, right = min(height, y1 + pad), min(width, x1 + pad)
        if bottom > top and right > left:
            areas.append((slice(top, bottom), slice(left, right)))
    return areas


def network_text_mask(
    pixels: np.ndarray, region: TextRegion, segmenter: TextSegmenterMask, dilation: int = 0
) -> TextPixels:
    """The text pixels the segmentation network finds in the region's padded line boxes (inside its
    container, if it has one). The network sees a window with some context around the lines; whatever it
    marks elsewhere is not this region's text."""
    height, width = pixels.shape[:2]
    areas = region_areas(region, pixels.shape)
    if not areas:
        return TextPixels((0, 0), NOTHING, None, None)
    size = float(region.style.font_size or np.median([a[0].stop - a[0].start for a in areas]))
    context = int(round(0.5 * size)) + 8
    y0 = max(0, min(a[0].start for a in areas) - context)
    y1 = min(height, max(a[0].stop for a in areas) + context)
    x0 = max(0, min(a[1].start for a in areas) - context)
    x1 = min(width, max(a[1].stop for a in areas) + context)
    allowed = np.zeros((y1 - y0, x1 - x0), bool)
    for rows, columns in areas:
        allowed[rows.start - y0 : rows.stop - y0, columns.start - x0 : columns.stop - x0] = True
    if len(region.container) >= 3:
        inside = np.zeros(allowed.shape, np.uint8)
        polygon = np.round(np.asarray(region.container, np.float64)).astype(np.int32) - [x0, y0]
        cv2.fillPoly(inside, [polygon], 1)
        allowed &= cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # never the container's border
    text = segmenter.text(pixels[y0:y1, x0:x1], text_height=size) & allowed
    if dilation:
        text = cv2.dilate(text.astype(np.uint8), np.ones((2 * dilation + 1,) * 2, np.uint8)) > 0
        text &= allowed
    return TextPixels((x0, y0), text.astype(np.uint8) * 255, None, None)


def _boxes(region: TextRegion) -> list[tuple[int, int, int, int]]:
    """The region's line boxes as integers (its box when it has no lines), empty ones left out."""
    lines = region.lines or ([list(region.box)] if region.polygon else [])
    boxes = [tuple(int(round(v)) for v in box) for box in lines]
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in boxes if x1 - x0 >= 2 and y1 - y0 >= 2]


def region_text_mask(pixels: np.ndarray, region: TextRegion, dilation: int = 0) -> TextPixels:
    """The pixels of a region's text, found line by line, and the text and background colours."""
    height, width = pixels.shape[:2]
    line_masks = []  # ((x, y), mask) of each line's analysed area
    text_samples, background_samples = [], []
    boxes = _boxes(region)
    for box in boxes:
        x0, y0, x1, y1 = box
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        # The text's size sets the scale of every margin: a line's height, or a vertical column's width.
        size = float(region.style.font_size or min(x1 - x0, y1 - y0))
        others = [other for other in boxes if other is not box]
        line = _line_text_pixels(pixels, (x0, y0, x1, y1), size, dilation, _text_sides((x0, y0, x1, y1), others, size))
        if line is None:
            continue
        origin, line_mask, text_rgb, background_rgb = line
        line_masks.append((origin, line_mask))
        text_samples.append(text_rgb)
        background_samples.append(background_rgb)
    text_color = _median_color(text_samples)
    background_color = _median_color(background_samples)
    if not line_masks:
        return TextPixels((0, 0), NOTHING, text_color, background_color)
    # One window around all the lines' areas holds the region's mask.
    wx0 = min(x for (x, _), _ in line_masks)
    wy0 = min(y for (_, y), _ in line_masks)
    wx1 = max(x + m.shape[1] for (x, _), m in line_masks)
    wy1 = max(y + m.shape[0] for (_, y), m in line_masks)
    mask = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    for (x, y), line_mask in line_masks:
        mask[y - wy0 : y - wy0 + line_mask.shape[0], x - wx0 : x - wx0 + line_mask.shape[1]] |= line_mask
    return TextPixels((wx0, wy0), mask, text_color, background_color)


# A container's fill counts as flat (painted with its smooth model rather than inpainted) when its plain
# pixels stray at most this far from the model (Lab): JPEG noise on a white balloon is 2-4.
FLAT_NOISE = 15.0


def container_text_mask(pixels: np.ndarray, region: TextRegion, dilation: int = 0) -> TextPixels:
    """The text of a region that sits in a container (a balloon, caption box or sign panel): the pixels
    near its lines that differ from the container's fill, in either polarity.

    The fill is modelled (a plane per channel, robust to the letters) from the container's pixels around
    the lines. A group of differing pixels counts as text only if it lies wholly inside the container and
    near the lines: the border (outline) reaches outside the container and is never part of the mask, nor
    is a drawing inside the balloon away from the text. On a flat fill the text is painted over with the
    model (returned in `paint`: exact, and no inpainting can smear the outline into the fill); on a
    textured fill it is left to the inpainter (returned in `mask`).
    """
    height, width = pixels.shape[:2]
    boxes = _boxes(region)
    polygon = np.round(np.asarray(region.container, np.float64)).astype(np.int32)
    if not boxes:
        return TextPixels((0, 0), NOTHING, None, None)
    size = float(region.style.font_size or np.median([min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]))
    pad = int(round(0.15 * size)) + 2
    reach = int(round(size))  # how far from its line a letter's part may reach (swashes, accents)

    # A window holding the container and the lines, with a margin for the pixels just outside both.
    xs = [p[0] for p in polygon] + [v for box in boxes for v in (box[0], box[2])]
    ys = [p[1] for p in polygon] + [v for box in boxes for v in (box[1], box[3])]
    wx0, wy0 = max(0, min(xs) - reach - 2), max(0, min(ys) - reach - 2)
    wx1, wy1 = min(width, max(xs) + reach + 2), min(height, max(ys) + reach + 2)
    rgb = pixels[wy0:wy1, wx0:wx1]
    lab = to_lab(rgb)
    inside: np.ndarray = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(inside, [polygon - [wx0, wy0]], 1)
    # One pixel in from the outline: a simplified polygon's edges can cut a pixel into the border.
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0
    lines: np.ndarray = np.zeros(rgb.shape[:2], np.uint8)
    for x0, y0, x1, y1 in boxes:
        lines[max(0, y0 - pad - wy0) : max(0, y1 + pad - wy0), max(0, x0 - pad - wx0) : max(0, x1 + pad - wx0)] = 1
    # The text's own lines are inside too, within the outline's extent: where the outline notches into a
    # line (under "P.E.", where the fill's growth stopped) or passes close by its last letters, those
    # letters would touch the edge and be left standing as if they were the border. The border itself
    # runs on past the lines, so it still reaches the edge.
    # (Only letters are painted there: the fill is painted inside the outline alone, `paintable` below.)
    px0, py0, pw, ph = cv2.boundingRect(polygon - [wx0, wy0])
    extent = np.zeros(rgb.shape[:2], bool)
    extent[max(0, py0) : max(0, py0 + ph), max(0, px0) : max(0, px0 + pw)] = True
    text_area = inside | ((lines > 0) & extent)
    near = cv2.dilate(lines, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
    lines = (lines > 0) & text_area
    if not lines.any():
        return TextPixels((0, 0), NOTHING, None, None)

    # The fill: the commonest colour around the lines, then a smooth model of it (gentle shading and
    # gradients are followed; the letters, being far from it, are left out as outliers).
    support = inside & near
    fill_lab = commonest_colour(lab[support])[0]
    candidates = support & (np.linalg.norm(lab - fill_lab, axis=2) < 15.0)
    if candidates.sum() < 6:
        return TextPixels((0, 0), NOTHING, None, None)
    grid_y, grid_x = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    model, inliers = _fit_background(lab, grid_x, grid_y, candidates)
    distance = np.linalg.norm(lab - model, axis=2)
    noise = _noise(lab, model, inliers)

    # Letters: groups of pixels standing out from the fill (faint anti-aliased edges included) that touch
    # a line, stay clear of the container's edge, and stay near the lines. The border reaches outside the
    # container, and so does whatever the outline takes in by mistake (the top of a window under a
    # fascia); a drawing inside the balloon strays away from the lines. Letterers and sign makers leave a
    # margin between the letters and the edge.
    strong = distance > max(3.0 * noise + 6.0, 15.0)
    weak = distance > max(2.0 * noise + 3.0, 6.0)
    margin = max(2, int(round(0.1 * size)))
    clear = cv2.erode(text_area.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
    if region.fills_container:
        # The letters reach the panel's border (a bold "NO PARKING" on a plate): no margin to tell them
        # from it. The outline runs round the letters (the panel's convex hull), so the letters are what
        # differs from the fill inside it, cut off there from the border they touch.
        strong &= inside
        weak &= inside
        clear = inside
    count, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    rejected = np.zeros(count, bool)
    rejected[np.unique(labels[weak & ~clear])] = True
    rejected[np.unique(labels[weak & ~near])] = True
    # A letter lies mostly in its line, whatever its swashes and accents reach; a sign's arrow or symbol
    # beside the text, which the line's box may take in the tip of, mostly does not.
    in_line = np.bincount(labels[weak & lines], minlength=count)
    rejected |= in_line < 0.5 * np.bincount(labels[weak], minlength=count)
    rejected[0] = False
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong & lines])] = True
    keep &= ~rejected
    keep[0] = False
    text = keep[labels]
    left_out = rejected[labels]  # the border, drawings: never painted over
    paintable = inside | text  # the fill inside the outline, and the letters wherever they were found
    background_color = _median_color([rgb[inliers].astype(np.float32)])
    if not text.any():
        return TextPixels((0, 0), NOTHING, None, background_color)

    # JPEG ringing and colour bleeding leave a faint halo a few pixels wide around each letter, below any
    # threshold that noise allows: the mask is grown generously, but only over the container's fill.
    radius = 2 + dilation + int(round(0.08 * size))
    grown = cv2.dilate(text.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)) > 0
    grown &= paintable & ~left_out

    # Colour of the text: its most distinct pixels, the solid stroke cores, not the blended edges.
    core = text & (distance >= np.percentile(distance[text], 80))
    text_color = _median_color([rgb[core].astype(np.float32)])

    if noise <= FLAT_NOISE:
        # Paint the fill's model, fitted in RGB on the same plain pixels, so the colour is exact. Over the
        # letters and over the plain fill around them, as far as a JPEG block (8 pixels) reaches: the
        # blocks the letters were in are full of faint ringing, which would otherwise outline the letters'
        # ghost (fill painted over fill changes nothing). Never over anything else in the container.
        scale = float(max(rgb.shape[:2]))
        design = np.stack([np.ones_like(grid_x, np.float32), grid_x / scale, grid_y / scale], axis=-1)
        coefficients = np.linalg.lstsq(design[inliers], rgb[inliers].astype(np.float32), rcond=None)[0]
        values = np.clip(np.round(design @ coefficients), 0, 255).astype(np.uint8)
        ringing = max(radius, 8)
        around = (
            cv2.dilate(text.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ringing + 1,) * 2)) > 0
        )
        band = (grown | (around & ~weak)) & paintable & ~left_out
        return TextPixels((wx0, wy0), NOTHING, text_color, background_color, paint=((wx0, wy0), values, band))
    return TextPixels((wx0, wy0), grown.astype(np.uint8) * 255, text_color, background_color)


def _median_color(samples: list[np.ndarray]) -> list[int] | None:
    samples = [sample for sample in samples if len(sample)]
    if not samples:
        return None
    return [int(round(v)) for v in np.median(np.concatenate(samples), axis=0)]


def _text_sides(
    box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]], size: float
) -> tuple[bool, bool, bool, bool]:
    """Which sides (left, top, right, bottom) of a line have another line of the block right next to them
    (within half a line): there, letters of the neighbour reach into the analysed area, and a tightly set
    paragraph's letters may even touch across lines."""
    x0, y0, x1, y1 = box
    gap = 0.5 * size
    sides = [False, False, False, False]
    for ox0, oy0, ox1, oy1 in others:
        beside_x = ox0 < x1 and ox1 > x0  # overlapping horizontally: above or below
        beside_y = oy0 < y1 and oy1 > y0  # overlapping vertically: left or right
        if beside_x and y0 - gap <= oy1 <= y0 + gap:
            sides[1] = True
        if beside_x and y1 - gap <= oy0 <= y1 + gap:
            sides[3] = True
        if beside_y and x0 - gap <= ox1 <= x0 + gap:
            sides[0] = True
        if beside_y and x1 - gap <= ox0 <= x1 + gap:
            sides[2] = True
    return sides[0], sides[1], sides[2], sides[3]


def _line_text_pixels(
    pixels: np.ndarray,
    box: tuple[int, int, int, int],
    size: float,
    dilation: int,
    text_sides: tuple[bool, bool, bool, bool] = (False, False, False, False),
):
    """Text pixels of one line box: ((x, y) of the analysed area, its mask, text RGB samples, background RGB
    samples), or None when nothing in the box stands out from its surroundings. `text_sides`: the sides
    (left, top, right, bottom) where other lines of the block lie."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = box
    # Detected boxes can be a little tight, and anti-aliasing spills past the ink: look a bit outside.
    pad = int(round(0.12 * size)) + 2
    ring = max(2, int(round(0.12 * size)))
    ax0, ay0, ax1, ay1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    rx0, ry0, rx1, ry1 = max(0, ax0 - ring), max(0, ay0 - ring), min(width, ax1 + ring), min(height, ay1 + ring)

    outer = pixels[ry0:ry1, rx0:rx1]
    lab = to_lab(outer)
    inside = np.zeros(outer.shape[:2], bool)
    inside[ay0 - ry0 : ay1 - ry0, ax0 - rx0 : ax1 - rx0] = True
    ring_mask = ~inside
    if ring_mask.sum() < 8:  # the box fills the image: its own border is the best guess of the background
        ring_mask = np.zeros_like(inside)
        ring_mask[[0, -1], :] = True
        ring_mask[:, [0, -1]] = True
    local_box = (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)

    ys, xs = np.mgrid[0 : outer.shape[0], 0 : outer.shape[1]]
    model, inliers = _fit_background(lab, xs, ys, ring_mask)
    text, strong = _text_against(lab, model, inliers, inside, local_box, pad, size, text_sides, drop_border=False)

    # A second opinion from the box itself: the colour most of the line's pixels share. The ring can miss
    # the text's background: letters on a fascia or a sign panel that ends just past the line (the ring
    # then models the wall or the photo around it, and either nothing stands out from that model, or the
    # whole panel does), or a tightly set paragraph (the ring is half letters of the lines above and
    # below, too noisy to model anything). Then the line's own background is the one to trust, and
    # anything reaching the edge of the analysed area (beside the block's other lines) is the panel's
    # surroundings, not text.
    # The commonest colour is taken in the line's box as detected (the padding may lie on a panel's
    # border), and the plane fitted to the pixels near it: a plain robust fit to the whole line would be
    # pulled off by the letters of a dense paragraph, which can cover nearly half of it.
    in_box = np.zeros_like(inside)
    in_box[local_box[1] : local_box[3], local_box[0] : local_box[2]] = True
    own_model, own_inliers = _fit_background(
        lab, xs, ys, inside & (np.linalg.norm(lab - commonest_colour(lab[in_box])[0], axis=2) < 15.0)
    )
    own_share = own_inliers[in_box].mean()
    disagreement = float(np.median(np.linalg.norm(model - own_model, axis=2)[inside]))
    ring_noise, own_noise = _noise(lab, model, inliers), _noise(lab, own_model, own_inliers)
    noise = ring_noise  # of the model the letters are found against
    # Lettering inks under half of its box (bold lettering on a sign about half). "Text" standing out that
    # clearly from more of the box is the panel behind the letters. (The clear part: anti-aliased edges and
    # JPEG halos, added round every stroke by the hysteresis, can take the mask past half of a tight box.)
    too_much = text is not None and strong[in_box].mean() > 0.5
    ring_failed = (
        text is None or too_much or disagreement > max(12.0, 2.0 * ring_noise) or ring_noise > 2.0 * own_noise + 5.0
    )
    # The line's own background covers at least 40 % of its box. (Less, and the "background" may be the
    # ink of bold letters.)
    if own_share >= 0.4 and ring_failed:
        own_text, own_strong = _text_against(
            lab, own_model, own_inliers, inside, local_box, pad, size, text_sides, drop_border=True
        )
        if own_text is not None and own_strong[in_box].mean() <= 0.5:
            model, inliers, text, too_much, noise = own_model, own_inliers, own_text, False, own_noise
    # Neither model tells the letters from a panel behind them: leave the line as it is. Text left
    # standing is a flaw the page's check can report; a sign panel inpainted away is not.
    if text is None or too_much:
        return None

    # Colour of the text: its most distinct pixels, the solid stroke cores, not the blended edges.
    distance = np.linalg.norm(lab - model, axis=2)
    core = text & (distance >= np.percentile(distance[text], 80))
    text_rgb = outer[core].astype(np.float32)
    background_rgb = outer[inliers].astype(np.float32)

    # Photographed letters fade out over a pixel or two (focus blur, JPEG ringing), below any threshold:
    # inpainted from that halo, a letter comes back as its ghost. The mask takes in the pixels round the
    # letters that still differ from the background by half its noise or more (a just noticeable step at
    # least: none round a clean letter).
    halo = cv2.dilate(text.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0
    text = text | (halo & (distance > max(0.5 * noise, 2.0)))
    radius = dilation + int(round(0.02 * size))
    grown = text.astype(np.uint8) * 255
    if radius > 0:
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    return (rx0, ry0), grown, text_rgb, background_rgb


def _noise(lab: np.ndarray, model: np.ndarray, inliers: np.ndarray) -> float:
    """How far plain background strays from its model (90th percentile of the inliers' distances)."""
    if not inliers.any():
        return 0.0
    return float(np.percentile(np.linalg.norm(lab - model, axis=2)[inliers], 90))


def _text_against(
    lab: np.ndarray,
    model: np.ndarray,
    inliers: np.ndarray,
    inside: np.ndarray,
    box: tuple[int, int, int, int],
    pad: int,
    size: float,
    text_sides: tuple[bool, bool, bool, bool],
    drop_border: bool,
):
    """The text pixels inside the analysed area: those far from the background model, with their faint
    anti-aliased edges, without structures crossing the line and specks. `drop_border` also leaves out
    whatever touches the analysed area's edge, except on `text_sides` (where the block's other lines
    are). Returns (text, the pixels that stand out clearly), or (None, None) when nothing stands out."""
    distance = np.linalg.norm(lab - model, axis=2)
    noise = _noise(lab, model, inliers)
    area = distance[inside]
    threshold = max(_otsu(area), 1.5 * noise + 4.0, 10.0)
    strong = (distance > threshold) & inside
    strong &= ~_crossing_structures(strong, box, pad, text_sides)
    if drop_border:
        strong &= ~_touching_edge(strong, inside, text_sides)
    if strong.sum() < 3:
        return None, None
    # Hysteresis, as in Canny: faint pixels (anti-aliased edges, JPEG ringing) count when they touch solid
    # text, and only within a few pixels of it, so the mask cannot creep along faint background lines.
    reach = 3 + int(round(0.08 * size))
    near = cv2.dilate(strong.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    weak = (distance > max(0.1 * threshold, noise + 2.0)) & inside & (near > 0)
    count, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    text = keep[labels]
    # Drop specks of noise too small to be part of a glyph (an i's dot is far larger at any readable size).
    min_area = max(2, int((0.04 * size) ** 2))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(text.astype(np.uint8), connectivity=8)
    small = np.zeros(count, bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < min_area
    text &= ~small[labels]
    text = _letters_in_artwork(text, lab, size)
    return (text, strong) if text.any() else (None, None)


def _letters_in_artwork(text: np.ndarray, lab: np.ndarray, size: float) -> np.ndarray:
    """`text` with its artwork taken out. A letter is a stroke, thin beside its line's height: half a bold
    capital's stroke is under a tenth of it (a little more where strokes join; and in small print a blurred
    stroke is a few pixels thick whatever its height, hence the floor). A component far thicker
    is a filled shape that differs from the background: the disc of a logo holding a word, a patch of
    another colour; inpainted with the text, it would be smeared into the background. Of such a shape
    only what differs from its own colour inside it is text (the word on the disc)."""
    half_thickness = cv2.distanceTransform(text.astype(np.uint8), cv2.DIST_L2, 3)
    count, labels = cv2.connectedComponents(text.astype(np.uint8), connectivity=8)
    thickest = np.zeros(count, np.float32)
    np.maximum.at(thickest, labels[text], half_thickness[text])
    thick = thickest > max(0.18 * size, 5.0)
    thick[0] = False
    if not thick.any():
        return text
    letters = text.copy()
    # The shape's own edge, a few pixels wide, blends with the background: it is not a letter.
    edge = max(2, int(round(0.04 * size)))
    for component in np.flatnonzero(thick):
        shape = labels == component
        own_colour = commonest_colour(lab[shape])[0]
        differs = np.linalg.norm(lab - own_colour, axis=2) > 20.0
        # Artwork is flat: nearly all of it one colour, the word it holds a small part. A thick blob of
        # mixed colours is the background misjudged round dense print (a page's shading taking in
        # its letters): all of it stays text, as before.
        if differs[shape].mean() > 0.15:
            continue
        inner = cv2.erode(shape.astype(np.uint8), np.ones((2 * edge + 1,) * 2, np.uint8)) > 0
        letters &= ~shape
        letters |= inner & differs
    return letters


def _touching_edge(strong: np.ndarray, inside: np.ndarray, text_sides: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Components of `strong` that reach the edge of the (rectangular) area `inside`, on the sides that
    are not `text_sides`."""
    rows, columns = np.nonzero(inside)
    top, bottom, left, right = rows.min(), rows.max(), columns.min(), columns.max()
    count, labels = cv2.connectedComponents(strong.astype(np.uint8), connectivity=8)
    edge = np.zeros(count, bool)
    for side, line in zip(
        text_sides,
        (
            labels[top : bottom + 1, left],
            labels[top, left : right + 1],
            labels[top : bottom + 1, right],
            labels[bottom, left : right + 1],
        ),
    ):
        if not side:
            edge[np.unique(line)] = True
    edge[0] = False
    return edge[labels]


def _crossing_structures(
    strong: np.ndarray,
    box: tuple[int, int, int, int],
    pad: int,
    text_sides: tuple[bool, bool, bool, bool] = (False, False, False, False),
) -> np.ndarray:
    """Components that run right through the line box, past both its top and bottom (or both its left and
    right) edges: a frame, a pole, a brick's mortar line. Glyphs stay inside their line; these belong to the
    background and must not be erased with the text. Not counted across a side where another line of the
    block lies (`text_sides`): in tight lettering, letters of neighbouring lines touch."""
    x0, y0, x1, y1 = box
    reach = max(1, pad // 2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong.astype(np.uint8), connectivity=8)
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    text_left, text_top, text_right, text_bottom = text_sides
    crossing = np.zeros(count, bool)
    if not (text_top or text_bottom):
        crossing |= (top <= y0 - reach) & (bottom >= y1 + reach)
    if not (text_left or text_right):
        crossing |= (left <= x0 - reach) & (right >= x1 + reach)
    crossing[0] = False
    return crossing[labels]


def _fit_background(
    lab: np.ndarray, xs: np.ndarray, ys: np.ndarray, ring_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth (planar, per channel) model of the background, fitted to the ring robustly: pixels of other
    text lines or objects that fall in the ring are dropped as outliers over a few rounds. Returns the model
    over the whole area and the mask of the ring pixels it kept."""
    height, width = ring_mask.shape
    scale = float(max(height, width))
    design = np.stack([np.ones_like(xs, np.float32), xs / scale, ys / scale], axis=-1).astype(np.float32)
    samples, values = design[ring_mask], lab[ring_mask]
    keep = np.ones(len(samples), bool)
    # Start from the median: a plane fitted through a ring full of outliers would already be off.
    coefficients = np.zeros((3, 3), np.float32)
    coefficients[0] = np.median(values, axis=0)
    for _ in range(4):
        residual = np.linalg.norm(values - samples @ coefficients, axis=1)
        limit = max(3.0 * 1.4826 * float(np.median(residual)), 3.0)
        keep = residual <= limit
        if keep.sum() < 6:
            break
        coefficients = np.linalg.lstsq(samples[keep], values[keep], rcond=None)[0].astype(np.float32)
    residual = np.linalg.norm(values - samples @ coefficients, axis=1)
    keep = residual <= max(3.0 * 1.4826 * float(np.median(residual)), 3.0)
    inliers = np.zeros_like(ring_mask)
    inliers[ring_mask] = keep
    return design @ coefficients, inliers


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of a set of non-negative values (the one that best splits them into two groups)."""
    if values.size == 0 or float(values.max()) <= 0:
        return 0.0
    histogram, edges = np.histogram(values, bins=256, range=(0.0, float(values.max())))
    centers = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(histogram).astype(np.float64)
    total = weight[-1]
    mean = np.cumsum(histogram * centers)
    between = (mean[-1] * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1e-9) * total
    return float(centers[int(np.argmax(between[:-1]))])
