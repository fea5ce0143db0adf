"""Scenes the tests draw: photo-like backgrounds and centred lines of lettering with their ink boxes."""

import cv2
import numpy as np
from PIL import Image, ImageDraw

from transmodal import fonts

SANS = fonts.font_path(fonts.SANS)
BOLD = fonts.font_path(fonts.SANS_BOLD)


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


def plate_in_frame(seed: int = 0):
    """A bold red "NO PARKING" filling a light grey plate in a yellow frame, the street behind it the same
    grey as the plate (as on opencv-doc's scenetext05, a barrier's plate photographed in shade). Returns
    the image, the plate (x0, y0, x1, y1), the line's box as a detector gives it (reaching the frame) and
    a mask of the frame."""
    image = np.full((200, 420, 3), (163, 157, 155), np.uint8)
    bold = fonts.font_path(fonts.SANS_BOLD)
    ink = draw_lines(image.copy(), ["NO PARKING"], (210, 100), size=40, font_file=bold)[0]
    plate = (ink[0] - 2, ink[1] - 6, ink[2] + 2, ink[3] + 6)  # the letters all but touch its edges
    frame = np.zeros(image.shape[:2], np.uint8)
    cv2.rectangle(frame, (plate[0] - 5, plate[1] - 5), (plate[2] + 4, plate[3] + 4), 1, thickness=9)
    image[frame > 0] = (214, 178, 40)
    draw_lines(image, ["NO PARKING"], (210, 100), size=40, color=(190, 30, 35), font_file=bold)
    noise = np.random.default_rng(seed).normal(0, 4, image.shape)
    image[:] = np.clip(image + noise, 0, 255).astype(np.uint8)
    line_box = (plate[0] - 2.0, plate[1] - 2.0, plate[2] + 2.0, plate[3] + 2.0)
    return image, plate, line_box, frame > 0


def sign_with_arrow():
    """A road sign's line of white lettering on green with a white arrow right after it, whose tip the
    line's box takes in (as RapidOCR boxed "Sports Centre" and its arrow on opencv-doc's scenetext02).
    Returns the image, the panel's polygon, the line's box and a mask of the arrow."""
    image = np.full((200, 460, 3), (20, 45, 30), np.uint8)
    cv2.rectangle(image, (6, 6), (453, 193), (235, 235, 235), 3)
    ink = draw_lines(image, ["Sports Centre"], (170, 100), size=40, color=(235, 235, 235))[0]
    arrow = np.zeros(image.shape[:2], np.uint8)
    left, middle = ink[2] + 6, (ink[1] + ink[3]) // 2
    # a short, bold arrow: all of it within a line's height of the text, as on the real sign
    points = [(0, -7), (20, -7), (20, -22), (40, 0), (20, 22), (20, 7), (0, 7)]
    points = np.array([[left + x, middle + y] for x, y in points], np.int32)
    cv2.fillPoly(arrow, [points], 1)
    image[arrow > 0] = (235, 235, 235)
    panel = [[10, 10], [450, 10], [450, 190], [10, 190]]
    line_box = (ink[0] - 2, ink[1] - 2, ink[2] + 12, ink[3] + 2)  # the arrow's tail taken in
    return image, panel, line_box, arrow > 0


def outlined_word(image: np.ndarray, word: str, position, size: int, fill, edge) -> tuple[int, int, int, int]:
    """Draws `word` in bold, filled with one colour and edged with another (a sound effect's lettering)."""
    font = fonts.load_font(BOLD, size)
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    draw.text(position, word, font=font, fill=fill, stroke_width=max(2, size // 14), stroke_fill=edge)
    box = draw.textbbox(position, word, font=font, stroke_width=max(2, size // 14))
    image[:] = np.asarray(picture)
    return tuple(int(v) for v in box)
