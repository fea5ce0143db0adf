"""Scenes the tests draw: photo-like backgrounds and centred lines of lettering with their ink boxes."""

import cv2
import numpy as np
from PIL import Image, ImageDraw

from transmodal import fonts

SANS = fonts.font_path(fonts.SANS)


def busy(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like background: large soft patches of mid-tone colour plus fine grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(90, 200, (height // 40 + 2, width // 40 + 2, 3)).astype(np.float32)
    pixels = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) + rng.normal(0, 8, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def draw_lines(
    image: np.ndarray, lines: list[str], center: tuple[int, int], size: int = 22, color=(0, 0, 0), font_file: str = SANS
) -> list[tuple[int, int, int, int]]:
    """Draw lines centred on `center` (in place); returns each line's ink box (x0, y0, x1, y1)."""
    font = fonts.load_font(font_file, size)
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    step = int(size * 1.3)
    top = center[1] - step * len(lines) // 2
    boxes = []
    for index, line in enumerate(lines):
        width = draw.textlength(line, font=font)
        position = (int(center[0] - width / 2), top + index * step)
        draw.text(position, line, font=font, fill=color)
        boxes.append(tuple(int(v) for v in draw.textbbox(position, line, font=font)))
    image[:] = np.asarray(picture)
    return boxes
