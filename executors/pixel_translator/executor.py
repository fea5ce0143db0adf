import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests

from executors.pixel_translator.backends import PIXEL_TRANSLATORS
from transmodal import languages, strips
from transmodal.docs import MediaDoc
from transmodal.errors import BadInputError, UnsupportedLanguageError
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image, encode_image
from transmodal.processing import fail_invalid_request, for_each_doc, traced

Box = tuple[int, int, int, int]


class PixelTranslator(Executor):
    """Translates the text of an image from pixels to pixels: no OCR, no text in between (the second way
    beside TextDetector -> TextTranslator -> TextEraser -> TextRenderer).

    The backend is a network trained on English -> Spanish phrase strips (training/pixels): `conv` by default.
    Each text line is cut out, fitted to the network's strip (its capitals and baseline moved to where the
    training strips have them, text dark on light whichever the source's polarity), translated by the
    backend, and drawn back in place in the line's own text colour over its background colour, scaled back
    to the source's size. Lines are the regions' `lines` (a TextDetector before it), or each region's box;
    a document without regions is one line: its ink's box. A line too long for the strip is left as it was
    and the document flagged. `drawn_box` of a region says where its translation went.
    """

    def __init__(
        self,
        backend: str = "conv",
        backend_options: dict | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.translator = PIXEL_TRANSLATORS.create(backend, **(backend_options or {}))
        self.max_pixels = max_pixels

    @requests
    def translate(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        for_each_doc(docs, self.metas.name, self._translate_doc)
        return traced(docs, self)

    def _check_languages(self, doc: MediaDoc) -> None:
        pair = (self.translator.source, self.translator.target)
        for given, known in zip((doc.source_lang, doc.target_lang), pair):
            if given and languages.normalize(given) != known:
                raise UnsupportedLanguageError(
                    f"this pixel translator was trained on {pair[0]} -> {pair[1]} only, not "
                    f"{doc.source_lang} -> {doc.target_lang}: use the text pipeline (flow.yml) for other pairs"
                )

    def _translate_doc(self, doc: MediaDoc) -> None:
        self._check_languages(doc)
        if doc.image is None:
            raise BadInputError("no image to translate: send the picture in `image`")
        pixels = decode_image(doc.image, self.max_pixels)
        pixels = pixels.copy()  # a decoded image is read-only
        if doc.regions:
            owners = [(index, box) for index, region in enumerate(doc.regions) for box in _line_boxes(region)]
        else:
            owners = [(-1, _ink_box(pixels))]
        fitted = [(region, line) for region, box in owners if (line := fit_line(pixels, box)) is not None]
        usable = [(region, line) for region, line in fitted if line.strip is not None]
        if not usable:
            raise BadInputError(
                f"every text line is longer than the {strips.WIDTH - 2 * strips.LEFT} px the network reads at its "
                "size: crop the image to shorter lines, or use the text pipeline (flow.yml)"
            )
        drawn = self.translator.translate(np.stack([line.strip for _, line in usable]))  # type: ignore[misc]
        for _, line in usable:  # every source line painted over before any translation is drawn: a
            line.paint_over(pixels)  # translation longer than its source may reach a neighbour's box
        for (region, line), ink in zip(usable, drawn):
            placed = line.draw(pixels, ink)
            if region >= 0 and placed is not None:
                doc.regions[region].drawn_box = _union(doc.regions[region].drawn_box, placed)
        if len(usable) < len(fitted):
            doc.flags.append(
                f"{self.metas.name}: {len(fitted) - len(usable)} line(s) too long for the network's strip, "
                "left as they were"
            )
        doc.image = encode_image(pixels)  # type: ignore[assignment]  # docarray validates the bytes into ImageBytes


def _line_boxes(region) -> list[Box]:
    boxes = region.lines or [list(region.box)]
    return [tuple(int(round(value)) for value in box) for box in boxes]  # type: ignore[misc]


def _ink_box(pixels: np.ndarray) -> Box:
    """The box of whatever differs from the picture's border colour (the whole text of a strip)."""
    ink, _, _ = line_ink(pixels)
    rows, columns = np.flatnonzero(ink.max(1) > 0.5), np.flatnonzero(ink.max(0) > 0.5)
    if not len(rows):
        raise BadInputError("no text found: the image is one flat colour")
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def line_ink(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ink in [0, 1], text colour, background colour) of an RGB crop: the background is the median of
    its border, the ink how far each pixel's grey is from the background's grey (either polarity), scaled
    so the strongest strokes are 1."""
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]]).reshape(-1, 3)
    background = np.median(border, axis=0)
    grey = crop.astype(np.float32).mean(2)
    distance = np.abs(grey - background.mean())
    strongest = max(float(np.percentile(distance, 99.5)), 24.0)  # a flat crop has no ink, not scaled noise
    ink = np.clip(distance / strongest, 0, 1)
    # the text's colour: the strokes' cores, the pixels farthest from the background (thin letters are
    # mostly edges blended with the background, which would wash the colour out)
    cores = distance >= 0.9 * distance.max()
    text = np.median(crop[cores], axis=0) if distance.max() >= 24 else 255 - background
    return ink, text, background


class FittedLine:
    """A line of the image scaled and moved into a strip (`strip`), and the way back: strip pixel (x, y)
    is image pixel (origin_x + x / scale, origin_y + y / scale)."""

    def __init__(self, box: Box, strip: np.ndarray | None, scale: float, origin: tuple[float, float], text, background):
        self.box, self.strip, self.scale, self.origin = box, strip, scale, origin  # strip None: too long
        self.text, self.background = text, background

    def paint_over(self, pixels: np.ndarray) -> None:
        """The source line's box filled with its background colour."""
        x0, y0, x1, y1 = self.box
        pixels[y0:y1, x0:x1] = self.background.astype(np.uint8)

    def draw(self, pixels: np.ndarray, ink: np.ndarray) -> Box | None:
        """The translated ink drawn in the line's text colour at the source's scale from the line's left
        edge; the box drawn into, or None when nothing was drawn."""
        size = (max(1, round(ink.shape[1] / self.scale)), max(1, round(ink.shape[0] / self.scale)))
        back = cv2.resize(ink.astype(np.float32), size, interpolation=_interpolation(1 / self.scale))
        placed = _paste_window(pixels.shape, back.shape, (round(self.origin[0]), round(self.origin[1])))
        if placed is None:
            return None
        (image_rows, image_columns), (back_rows, back_columns) = placed
        alpha = np.clip(back[back_rows, back_columns], 0, 1)[..., None]
        window = pixels[image_rows, image_columns]
        window[:] = (window * (1 - alpha) + self.text[None, None] * alpha).round().astype(np.uint8)
        rows, columns = np.flatnonzero(alpha[..., 0].max(1) > 0.5), np.flatnonzero(alpha[..., 0].max(0) > 0.5)
        if not len(rows):
            return None
        left, top = image_columns.start, image_rows.start
        return left + int(columns[0]), top + int(rows[0]), left + int(columns[-1]) + 1, top + int(rows[-1]) + 1


def _interpolation(scale: float) -> int:
    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def _paste_window(
    into: tuple[int, ...], piece: tuple[int, ...], at: tuple[int, int]
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """The slices of `into` (rows, columns) and of `piece` that overlap when `piece`'s corner is at `at`
    (x, y) of `into`; None when they do not overlap."""
    x, y = at
    rows = (max(0, y), min(into[0], y + piece[0]))
    columns = (max(0, x), min(into[1], x + piece[1]))
    if rows[0] >= rows[1] or columns[0] >= columns[1]:
        return None
    return (
        (slice(*rows), slice(*columns)),
        (slice(rows[0] - y, rows[1] - y), slice(columns[0] - x, columns[1] - x)),
    )


def fit_line(pixels: np.ndarray, box: Box) -> FittedLine | None:
    """The line in `box` fitted to the network's strip (`strip` None when it is longer than the strip at
    that size), or None when the box holds no ink.

    The scale puts the ink's top (a capital's or an ascender's) and its baseline where the training strips
    have them (transmodal.strips.line_rows measures both).
    """
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    ink, text, background = line_ink(pixels[y0:y1, x0:x1])
    rows = strips.line_rows(ink)
    if rows is None:
        return None
    top, baseline = rows
    columns = np.flatnonzero((ink > 0.5).any(0))
    left, right = int(columns[0]), int(columns[-1]) + 1
    scale = (strips.BASELINE - strips.CAP_TOP) / max(1, baseline - top)
    corner = (strips.LEFT - round(left * scale), strips.CAP_TOP - round(top * scale))  # the crop's, in the strip
    origin = (x0 - corner[0] / scale, y0 - corner[1] / scale)
    if (right - left) * scale > strips.WIDTH - 2 * strips.LEFT:
        return FittedLine((x0, y0, x1, y1), None, scale, origin, text, background)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    scaled = cv2.resize(ink, size, interpolation=_interpolation(scale))
    strip = np.zeros((strips.HEIGHT, strips.WIDTH), np.float32)
    placed = _paste_window(strip.shape, scaled.shape, corner)
    if placed is None:
        return None
    (strip_rows, strip_columns), (scaled_rows, scaled_columns) = placed
    strip[strip_rows, strip_columns] = scaled[scaled_rows, scaled_columns]
    return FittedLine((x0, y0, x1, y1), np.clip(strip, 0, 1), scale, origin, text, background)


def _union(box: list[float], other: Box) -> list[float]:
    if not box:
        return [float(value) for value in other]
    return [min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])]
