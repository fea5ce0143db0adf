"""Decoding and encoding of the images carried by documents, with the checks that keep bad input out.

Images travel encoded; an executor decodes one only when it needs pixels. The pixel limit is checked from
the header, before the full decode, so a decompression bomb (a tiny file that claims 50k x 50k pixels) is
rejected without allocating its pixels.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import warnings

import cv2
import numpy as np
from PIL import Image

from transmodal.errors import BadInputError

DEFAULT_MAX_PIXELS = int(os.environ.get("TRANSMODAL_MAX_PIXELS", 64_000_000))
# Pixels a text detector works on: larger images are downscaled for detection and the boxes scaled back
# (a 6000x6000 page took the detector to 1.24 GB at full size). 16 M keeps 12 px text readable at 6000x6000.
DETECTION_MAX_PIXELS = int(os.environ.get("TRANSMODAL_DETECTION_PIXELS", 16_000_000))


# How encoded media files begin (WebP and WAV are RIFF containers: "RIFF....WEBP", "RIFF....WAVE").
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
AUDIO_SIGNATURES = (b"fLaC", b"OggS", b"ID3")


def unwrap_base64(data: bytes) -> bytes:
    """The file inside a base64 text, as JSON clients of the HTTP gateway send binary fields; other bytes
    unchanged. Only a payload that decodes to bytes starting like a media file is unwrapped."""
    head = bytes(data[:16])
    if not head.isascii() or head.startswith(IMAGE_SIGNATURES + AUDIO_SIGNATURES + (b"RIFF",)):
        return data
    try:
        decoded = base64.b64decode(bytes(data), validate=True)
    except (binascii.Error, ValueError):
        return data
    return decoded if decoded.startswith(IMAGE_SIGNATURES + AUDIO_SIGNATURES + (b"RIFF",)) else data


def decode_image(data: bytes | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded bytes (PNG, JPEG, WebP, ..., or their base64 text) -> RGB uint8 array (height, width, 3)."""
    return _pixels(_open_image(data, max_pixels))


def _open_image(data: bytes | None, max_pixels: int) -> Image.Image:
    """The image, its header checked against the pixel limit; pixels not decoded yet."""
    if data is None or len(data) == 0:
        raise BadInputError("empty image: the document has no image bytes")
    data = unwrap_base64(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit follows
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        # Pillow's guard (left on for the whole process) refuses images over 2 x Image.MAX_IMAGE_PIXELS
        # from the header alone, before our own, usually lower, limit is reached.
        size = _png_size(data)
        claimed = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels: " if size else ""
        raise BadInputError(f"image too large: {claimed}{error} (limit: max_pixels {max_pixels:,})") from error
    except Image.UnidentifiedImageError as error:
        raise BadInputError(
            f"cannot decode image ({len(data)} bytes): not an image format this reads (PNG, JPEG, WebP, GIF, BMP, "
            f"TIFF); check the file is an image and complete"
        ) from error
    except Exception as error:  # Pillow raises several types for unreadable headers
        raise BadInputError(f"cannot decode image ({len(data)} bytes): {error}") from error
    width, height = image.size
    if width == 0 or height == 0:
        raise BadInputError(f"empty image: {width}x{height} pixels")
    if width * height > max_pixels:
        raise BadInputError(
            f"image too large: {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,} (set max_pixels in the executor's `with:` or TRANSMODAL_MAX_PIXELS)"
        )
    image.encoded_size = len(data)  # type: ignore[attr-defined]  # for the error message of a failed load
    return image


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header, read without Pillow (whose bomb guard refuses to open it)."""
    head = bytes(data[:24])
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None


def _pixels(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode `image` (optionally resized to `size`) into an RGB uint8 array. An image already in RGB is
    not converted: that copy doubled the peak memory of a large decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if size is not None and image.format == "JPEG":
                image.draft("RGB", size)  # JPEG decodes directly at 1/2, 1/4 or 1/8 of the size
            image.load()
            if size is not None and image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
            return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    except Exception as error:
        size_bytes = getattr(image, "encoded_size", "?")
        raise BadInputError(f"cannot decode image ({size_bytes} bytes, truncated or corrupt): {error}") from error


# The format an executor hands a finished image to the next stage in, where a Flow asks for it (the eraser's
# `image_format`): uncompressed, so it costs no time to write or read. A 1327 x 2039 comic page: BMP 3 ms
# for 7.9 MB, PNG 190 ms for 3.4 MB, and the next stage decodes BMP in a fraction of PNG's 76 ms.
HANDOVER_FORMAT = "BMP"
IMAGE_FORMATS = ("PNG", HANDOVER_FORMAT)


def is_handover(data: bytes | None) -> bool:
    """Whether `data` is an image in the hand-over format, which should not leave a Flow."""
    return data is not None and bytes(data[:2]) == b"BM"


def encode_image(pixels: np.ndarray, format: str = "PNG") -> bytes:
    """RGB uint8 array -> encoded bytes."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if format.upper() == "PNG":
        # zlib level 1 with run-length matching (libpng through OpenCV): a finished page is written at every
        # Flow's end. On 6 real comic pages (1327 x 2039): 152 ms and 3.9 MB a page, where Pillow's level 1
        # took 211 ms for 3.6 MB and its level 6 (the default) three times as long.
        options = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
        written, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), options)
        if not written:
            raise BadInputError(f"cannot encode a {pixels.shape} image as PNG")
        return encoded.tobytes()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return buffer.getvalue()


def fit_pixels(pixels: np.ndarray, budget: int = DETECTION_MAX_PIXELS) -> tuple[np.ndarray, float]:
    """(pixels, scale): `pixels` as they are when width x height <= `budget`, else downscaled (area
    averaging, aspect ratio kept) by `scale` < 1 to fit. Divide coordinates found on the result by `scale`
    (`scale_lines`) to get them on the original."""
    height, width = pixels.shape[:2]
    if not budget or width * height <= budget:
        return pixels, 1.0
    import cv2

    scale = (budget / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), size[0] / width


def decode_image_scaled(
    data: bytes | None, max_pixels: int = DEFAULT_MAX_PIXELS, budget: int = DETECTION_MAX_PIXELS
) -> tuple[np.ndarray, float]:
    """The pixels to detect text on and their scale (1.0: full size): `decode_image`, downscaled to at most
    `budget` pixels while decoding (the full-size RGB array is never made; JPEGs decode at a reduced size).
    Divide coordinates found on the result by the scale (`scale_lines`)."""
    image = _open_image(data, max_pixels)
    width, height = image.size
    if not budget or width * height <= budget:
        return _pixels(image), 1.0
    factor = (budget / (width * height)) ** 0.5
    size = (max(1, int(width * factor)), max(1, int(height * factor)))
    return _pixels(image, size), size[0] / width


def scale_lines(lines: list, factor: float) -> list:
    """Lines (anything with a `box` (x0, y0, x1, y1)) with their boxes multiplied by `factor`; the same
    list when factor is 1. `scale_lines(lines, 1 / scale)` maps boxes found on a `fit_pixels` image back."""
    if factor == 1.0:
        return lines
    import dataclasses

    return [dataclasses.replace(line, box=tuple(value * factor for value in line.box)) for line in lines]


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels (any shape ending in 3) -> CIE Lab float32, L in 0..100 and a, b in about -128..127,
    so that colour distances are in the usual units (a just noticeable step is about 2)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def commonest_colour(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The commonest colour of Lab samples (N, 3), e.g. the fill between letters, which covers more of a
    line than the letters do: the peak of a coarse histogram (L by 8, a and b by 12, so that JPEG noise and
    gentle shading fall into one bin; ties go to the lowest bin), refined to the median of the samples within
    12 of that bin's median. Returns that colour and the mask of the samples near it."""
    keys = (
        np.clip(lab[:, 0] // 8, 0, 12).astype(np.int32) * 32 * 32
        + np.clip((lab[:, 1] + 128) // 12, 0, 31).astype(np.int32) * 32
        + np.clip((lab[:, 2] + 128) // 12, 0, 31).astype(np.int32)
    )
    peak = np.median(lab[keys == np.argmax(np.bincount(keys))], axis=0)
    near = np.linalg.norm(lab - peak, axis=1) < 12.0
    return np.median(lab[near], axis=0), near
