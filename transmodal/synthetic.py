"""Generated sign images with known text and boxes, for tests, benchmarks, the demo and model training.

`make_sign` draws one to a few lines of text at a random place, font, size and colour, on a flat, gradient,
textured or photo background, and returns the pixels with the true text and line boxes.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from transmodal import fonts

# Short English sign texts that the offline translator (Apertium eng-spa) renders well.
SIGN_TEXTS: list[list[str]] = [
    ["Welcome to the museum"],
    ["Open every day"],
    ["No smoking"],
    ["The library is", "closed today"],
    ["Fresh bread", "and coffee"],
    ["Emergency exit"],
    ["Tickets for", "the train"],
    ["Hot soup"],
    ["Good morning"],
    ["Books and", "newspapers"],
    ["Cold drinks"],
    ["Information"],
    ["Wet floor"],
    ["Fish market", "Cold drinks", "Hot soup"],
    ["Beautiful beach"],
    ["Kitchen"],
]

SIGN_FONTS = [
    fonts.SANS,
    fonts.SANS_BOLD,
    fonts.SERIF,
    fonts.SERIF_BOLD,
    ["DejaVuSansCondensed-Bold.ttf"],
    fonts.MONO,
]
BACKGROUNDS = ("flat", "gradient", "texture", "photo")


@dataclasses.dataclass
class Sign:
    image: np.ndarray  # RGB uint8 (height, width, 3)
    lines: list[str]
    line_boxes: list[tuple[int, int, int, int]]  # (x0, y0, x1, y1) of each line's ink
    text_color: tuple[int, int, int]
    background: str

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
    return red, green, blue


def _contrasting_colors(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A (text, background) colour pair with a luminance gap a reader (and OCR) can see."""
    while True:
        text = _random_color(rng)
        background = _random_color(rng)
        if abs(_luminance(text) - _luminance(background)) > 110:
            return text, background


def _luminance(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


@functools.lru_cache(maxsize=1)
def _photo_paths() -> list[str]:
    try:
        import skimage
    except ImportError:
        return []
    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    names = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "brick.png", "grass.png", "gravel.png")
    return [path for path in sorted(glob.glob(os.path.join(folder, "*"))) if os.path.basename(path) in names]


def _background(kind: str, size: tuple[int, int], color: tuple[int, int, int], rng: np.random.Generator) -> Image.Image:
    width, height = size
    base = np.array(color, dtype=np.float32)
    if kind == "flat":
        pixels = np.broadcast_to(base, (height, width, 3))
    elif kind == "gradient":
        other = np.clip(base + rng.uniform(-60, 60, 3), 0, 255)
        ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
        pixels = np.broadcast_to(base * (1 - ramp) + other * ramp, (height, width, 3))
    elif kind == "texture":  # soft noise around the colour, like paper, concrete or painted wood
        noise = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
        smooth = np.asarray(Image.fromarray(noise).resize((width, height), Image.Resampling.BICUBIC))
        pixels = base + 18 * smooth[..., None] + rng.normal(0, 6, (height, width, 1))
    elif kind == "photo" and _photo_paths():
        photo = Image.open(_photo_paths()[rng.integers(len(_photo_paths()))]).convert("RGB")
        photo = photo.resize((width, height)).filter(ImageFilter.GaussianBlur(3))
        # Pull the photo towards the panel colour so the sign stays readable, as on a real poster.
        pixels = 0.55 * base + 0.45 * np.asarray(photo, dtype=np.float32)
    else:
        raise ValueError(f"unknown background {kind!r}; one of {BACKGROUNDS}")
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@functools.lru_cache(maxsize=1)
def _photos() -> list[np.ndarray]:
    return [np.asarray(Image.open(path).convert("RGB")) for path in _photo_paths()]


def random_panel(
    size: tuple[int, int], rng: np.random.Generator, kinds: tuple[str, ...] = BACKGROUNDS
) -> tuple[Image.Image, tuple[int, int, int], str]:
    """A background of a random kind and a text colour that reads on it: (image, text colour, kind).

    Meant for training data drawn as many small images: a photo panel is a random crop of a random photo
    (kept in memory), not the whole photo resized, so panels cut from the same few photos still differ.
    """
    text_color, background_color = _contrasting_colors(rng)
    kind = kinds[rng.integers(len(kinds))]
    if kind != "photo" or not _photos():
        return _background("texture" if kind == "photo" else kind, size, background_color, rng), text_color, kind
    photo = _photos()[rng.integers(len(_photos()))]
    width, height = size
    side = int(rng.integers(min(photo.shape[:2]) // 4, min(photo.shape[:2]) + 1))
    top = int(rng.integers(0, photo.shape[0] - side + 1))
    left = int(rng.integers(0, photo.shape[1] - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side]).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    crop = crop.filter(ImageFilter.GaussianBlur(max(1.0, width / 200)))
    # As in _background: pulled towards the panel colour so the text stays readable.
    pixels = 0.55 * np.array(background_color, dtype=np.float32) + 0.45 * np.asarray(crop, dtype=np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), text_color, kind


def make_sign(
    lines: list[str],
    *,
    size: tuple[int, int] = (640, 480),
    font_file: str | None = None,
    font_size: int | None = None,
    text_color: tuple[int, int, int] | None = None,
    background_color: tuple[int, int, int] | None = None,
    background: str = "flat",
    seed: int = 0,
) -> Sign:
    """Draw `lines` centred-left at a random place; anything unset is drawn at random from `seed`."""
    rng = np.random.default_rng(seed)
    random_text, random_background = _contrasting_colors(rng)
    text_color = text_color or random_text
    background_color = background_color or random_background
    font_file = font_file or fonts.font_path(SIGN_FONTS[rng.integers(len(SIGN_FONTS))])
    width, height = size

    # Largest size up to the requested one at which the block fits in 85 % of the image.
    font_size = font_size or int(rng.integers(height // 18, height // 9))
    while True:
        font = fonts.load_font(font_file, font_size)
        # FreeTypeFont.getbbox gives ints at run time; the stubs say float
        widths = [int(font.getbbox(line)[2]) for line in lines]
        line_height = int(font_size * 1.35)
        if max(widths) <= 0.85 * width and line_height * len(lines) <= 0.85 * height or font_size <= 8:
            break
        font_size = int(font_size * 0.9)

    block_height = line_height * len(lines)
    x = int(rng.integers(int(0.05 * width), max(int(0.05 * width) + 1, width - max(widths) - int(0.05 * width))))
    y = int(rng.integers(int(0.05 * height), max(int(0.05 * height) + 1, height - block_height - int(0.05 * height))))

    image = _background(background, size, background_color, rng)
    draw = ImageDraw.Draw(image)
    boxes: list[tuple[int, int, int, int]] = []
    for index, line in enumerate(lines):
        position = (x, y + index * line_height)
        draw.text(position, line, font=font, fill=text_color)
        left, top, right, bottom = draw.textbbox(position, line, font=font)
        boxes.append((int(left), int(top), int(right), int(bottom)))
    red, green, blue = text_color
    return Sign(np.asarray(image), list(lines), boxes, (red, green, blue), background)


def sign_set(count: int, seed: int = 0, size: tuple[int, int] = (640, 480)) -> list[Sign]:
    """`count` varied signs: texts, fonts and backgrounds cycle, colours and placement vary by seed."""
    return [
        make_sign(
            SIGN_TEXTS[(seed + index) % len(SIGN_TEXTS)],
            size=size,
            font_file=fonts.font_path(SIGN_FONTS[index % len(SIGN_FONTS)]),
            background=BACKGROUNDS[index % len(BACKGROUNDS)],
            seed=seed * 1000 + index,
        )
        for index in range(count)
    ]
