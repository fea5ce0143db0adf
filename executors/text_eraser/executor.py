import dataclasses

import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests

from executors.text_eraser.backends import ERASERS
from transmodal.docs import MediaDoc, TextRegion
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image, encode_image
from transmodal.processing import for_each_doc, traced


class TextEraser(Executor):
    """Removes the text of every region from the document's image, so a translation can be drawn in its place.

    Only the text's own pixels are erased, not its whole box: inside each line box the background is
    modelled from the ring of pixels around the box, the pixels far from that model are the text, and the
    inpainting backend fills them in. The colours measured on the way are written to each region's style
    (`color`, `background_color`) for the TextRenderer. Documents without regions pass through unchanged.
    """

    def __init__(self, backend: str = "opencv-telea", backend_options: dict | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, mask_dilation: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.inpainter = ERASERS.create(backend, **(backend_options or {}))
        self.max_pixels = max_pixels
        self.mask_dilation = mask_dilation

    @requests
    def erase(self, docs: DocList[MediaDoc], **kwargs) -> DocList[MediaDoc]:
        for_each_doc(docs, self.metas.name, self._erase_doc)
        return traced(docs, self)

    def _erase_doc(self, doc: MediaDoc) -> None:
        if not doc.regions:
            return
        pixels = decode_image(doc.image, self.max_pixels)
        mask = np.zeros(pixels.shape[:2], np.uint8)
        for region in doc.regions:
            found = region_text_mask(pixels, region, self.mask_dilation)
            mask |= found.mask
            if found.text_color is not None:
                region.style.color = found.text_color
            if found.background_color is not None:
                region.style.background_color = found.background_color
        doc.image = encode_image(self.inpainter.inpaint(pixels, mask))


@dataclasses.dataclass
class TextPixels:
    mask: np.ndarray  # uint8 (height, width) of the whole image, 255 on the text and its anti-aliased edge
    text_color: list[int] | None  # median RGB of the text's solid pixels
    background_color: list[int] | None  # median RGB of the background around the text


def region_text_mask(pixels: np.ndarray, region: TextRegion, dilation: int = 0) -> TextPixels:
    """The pixels of a region's text, found line by line, and the text and background colours."""
    height, width = pixels.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    text_samples, background_samples = [], []
    boxes = region.lines or ([list(region.box)] if region.polygon else [])
    for box in boxes:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        # The text's size sets the scale of every margin: a line's height, or a vertical column's width.
        size = float(region.style.font_size or min(x1 - x0, y1 - y0))
        line = _line_text_pixels(pixels, (x0, y0, x1, y1), size, dilation)
        if line is None:
            continue
        (ax0, ay0), line_mask, text_rgb, background_rgb = line
        mask[ay0:ay0 + line_mask.shape[0], ax0:ax0 + line_mask.shape[1]] |= line_mask
        text_samples.append(text_rgb)
        background_samples.append(background_rgb)
    text_color = _median_color(text_samples)
    background_color = _median_color(background_samples)
    return TextPixels(mask, text_color, background_color)


def _median_color(samples: list[np.ndarray]) -> list[int] | None:
    samples = [sample for sample in samples if len(sample)]
    if not samples:
        return None
    return [int(round(v)) for v in np.median(np.concatenate(samples), axis=0)]


def _line_text_pixels(pixels: np.ndarray, box: tuple[int, int, int, int], size: float, dilation: int):
    """Text pixels of one line box: ((x, y) of the analysed area, its mask, text RGB samples, background RGB
    samples), or None when nothing in the box stands out from its surroundings."""
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = box
    # Detected boxes can be a little tight, and anti-aliasing spills past the ink: look a bit outside.
    pad = int(round(0.12 * size)) + 2
    ring = max(2, int(round(0.12 * size)))
    ax0, ay0, ax1, ay1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    rx0, ry0, rx1, ry1 = max(0, ax0 - ring), max(0, ay0 - ring), min(width, ax1 + ring), min(height, ay1 + ring)

    outer = pixels[ry0:ry1, rx0:rx1]
    lab = cv2.cvtColor(outer.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    inside = np.zeros(outer.shape[:2], bool)
    inside[ay0 - ry0:ay1 - ry0, ax0 - rx0:ax1 - rx0] = True
    ring_mask = ~inside
    if ring_mask.sum() < 8:  # the box fills the image: its own border is the best guess of the background
        ring_mask = np.zeros_like(inside)
        ring_mask[[0, -1], :] = True
        ring_mask[:, [0, -1]] = True

    ys, xs = np.mgrid[0:outer.shape[0], 0:outer.shape[1]]
    model, inliers = _fit_background(lab, xs, ys, ring_mask)
    distance = np.linalg.norm(lab - model, axis=2)
    # How far plain background strays from the model: ring pixels of other lines or objects excluded.
    noise = float(np.percentile(distance[inliers], 90))

    area = distance[inside]
    threshold = max(_otsu(area), 1.5 * noise + 4.0, 10.0)
    strong = (distance > threshold) & inside
    strong &= ~_crossing_structures(strong, (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0), pad)
    if strong.sum() < 3:
        return None
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
    if not text.any():
        return None

    # Colour of the text: its most distinct pixels, the solid stroke cores, not the blended edges.
    text_distance = distance[text]
    core = text & (distance >= np.percentile(text_distance, 80))
    text_rgb = outer[core].astype(np.float32)
    background_rgb = outer[inliers].astype(np.float32)

    radius = dilation + int(round(0.02 * size))
    grown = text.astype(np.uint8) * 255
    if radius > 0:
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    return (rx0, ry0), grown, text_rgb, background_rgb


def _crossing_structures(strong: np.ndarray, box: tuple[int, int, int, int], pad: int) -> np.ndarray:
    """Components that run right through the line box, past both its top and bottom (or both its left and
    right) edges: a frame, a pole, a brick's mortar line. Glyphs stay inside their line; these belong to the
    background and must not be erased with the text."""
    x0, y0, x1, y1 = box
    reach = max(1, pad // 2)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong.astype(np.uint8), connectivity=8)
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    crossing = ((top <= y0 - reach) & (bottom >= y1 + reach)) | ((left <= x0 - reach) & (right >= x1 + reach))
    crossing[0] = False
    return crossing[labels]


def _fit_background(lab: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                    ring_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
