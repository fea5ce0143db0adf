"""Generated training images for SEE: house-number-like digit strings and words, with their true boxes.

Two kinds of image, both drawn from a seed so that every set is reproducible:

- `single_string`: one string centred (with jitter) in a small square image, like the 64x64 SVHN crops
  the paper reports on;
- `text_lines`: one or more lines at random positions, sizes, fonts and colours in a larger square image.

Backgrounds, colours and fonts come from `transmodal.synthetic` (flat, gradient, textured and photo
panels; the scikit-image photos). Labels list the lines top to bottom (then left to right), as the paper
orders them; the true boxes are kept for evaluation only: the model never sees them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from transmodal import fonts, synthetic
from transmodal.nets.see import BLANK, encode

# Short common words (signs, shops, streets), drawn in lower, Title or UPPER case.
WORDS = """
open closed exit entry push pull stop slow park taxi hotel bar cafe shop bank post bus train tram metro
city road street avenue north south east west left right up down hot cold fresh bread milk tea coffee
soup fish meat fruit wine beer water ice sale new free toilet men women gate door floor room stairs
lift help info police fire danger caution keep quiet please thank you welcome hello good day night
book books news market museum school church garden beach river lake bridge tower castle house home
station airport ticket tickets office library kitchen bakery pizza pasta salad menu price cash card
rent sold team game play music cinema art photo print copy mail box key lock wash dry clean fast
quick car bike only way zone area level smoking no yes and the for all one two three four five
six seven eight nine ten red blue green black white gold silver star moon sun rain snow wind storm
""".split()

SINGLE_FONTS = synthetic.SIGN_FONTS


@dataclasses.dataclass
class Sample:
    image: np.ndarray  # RGB uint8 (height, width, 3)
    lines: list[str]  # top to bottom
    boxes: list[tuple[int, int, int, int]]  # (x0, y0, x1, y1) of each line's ink, same order


def random_token(rng: np.random.Generator, max_length: int) -> str:
    """A house number (1-5 digits, no leading zero) or a word in a random case, at most `max_length` long."""
    if rng.random() < 0.5:
        length = int(rng.integers(1, min(5, max_length) + 1))
        return str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, length - 1))
    candidates = [word for word in WORDS if len(word) <= max_length]
    word = candidates[rng.integers(len(candidates))]
    case = rng.random()
    return word.upper() if case < 0.3 else word.capitalize() if case < 0.6 else word


def _font(rng: np.random.Generator, size: int):
    return fonts.load_font(fonts.font_path(SINGLE_FONTS[rng.integers(len(SINGLE_FONTS))]), size)


def _finish(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Camera-like blur and noise on some images, so clean renders are not all the model knows."""
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0))))
    pixels: np.ndarray = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.3:
        pixels = pixels + rng.normal(0, rng.uniform(2, 8), pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def single_string(rng: np.random.Generator, size: int = 64, max_length: int = 8) -> Sample:
    """One string, centred with some jitter, filling a third to most of the image height."""
    text = random_token(rng, max_length)
    panel, color, _ = synthetic.random_panel((size, size), rng)
    font_size = int(rng.integers(int(size * 0.3), int(size * 0.6) + 1))
    font = _font(rng, font_size)
    while font.getbbox(text)[2] - font.getbbox(text)[0] > 0.9 * size and font_size > 6:
        font_size -= 1
        font = _font(rng, font_size)
    left, top, right, bottom = font.getbbox(text)
    free_x, free_y = size - (right - left), size - (bottom - top)
    x = free_x / 2 + rng.uniform(-0.25, 0.25) * free_x - left
    y = free_y / 2 + rng.uniform(-0.25, 0.25) * free_y - top
    draw = ImageDraw.Draw(panel)
    draw.text((x, y), text, font=font, fill=color)
    x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
    box = (int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1)))
    return Sample(_finish(panel, rng), [text], [box])


def text_lines(
    rng: np.random.Generator, size: int = 128, max_lines: int = 3, max_length: int = 8, min_lines: int = 1
) -> Sample:
    """1..max_lines lines stacked at random heights and indents, each with its own font and size."""
    count = int(rng.integers(min_lines, max_lines + 1))
    panel, color, _ = synthetic.random_panel((size, size), rng)
    draw = ImageDraw.Draw(panel)
    texts = [random_token(rng, max_length) for _ in range(count)]
    # Font sizes first: the more lines, the smaller (one line is about as large as a centred string, three
    # are a third of that), then the leftover height spread at random between and around the lines.
    largest = 0.6 * size / count
    font_sizes = [max(10, int(rng.uniform(0.5 * largest, largest))) for _ in texts]
    line_fonts = [_font(rng, font_size) for font_size in font_sizes]
    for index, text in enumerate(texts):  # shrink a line until it fits the width
        while line_fonts[index].getlength(text) > 0.92 * size and font_sizes[index] > 8:
            font_sizes[index] -= 1
            line_fonts[index] = _font(rng, font_sizes[index])
    heights = [font.getbbox(text)[3] - font.getbbox(text)[1] for font, text in zip(line_fonts, texts)]
    free = max(0, size - sum(heights) - 2)
    gaps = rng.dirichlet(np.ones(count + 1)) * free
    lines, boxes = [], []
    y = float(gaps[0])
    for index, (text, font) in enumerate(zip(texts, line_fonts)):
        left, top, right, _ = font.getbbox(text)
        x = rng.uniform(0, max(0.0, size - (right - left) - 1)) - left
        position = (x, y - top)
        draw.text(position, text, font=font, fill=color)
        x0, y0, x1, y1 = draw.textbbox(position, text, font=font)
        boxes.append((int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))))
        lines.append(text)
        y += heights[index] + float(gaps[index + 1])
    return Sample(_finish(panel, rng), lines, boxes)


def labels_tensor(samples: list[Sample], max_lines: int, max_length: int) -> torch.Tensor:
    """(batch, max_lines, max_length) labels; lines a sample lacks are all BLANK."""
    labels = torch.full((len(samples), max_lines, max_length), BLANK, dtype=torch.long)
    for row, sample in enumerate(samples):
        for line, text in enumerate(sample.lines[:max_lines]):
            labels[row, line] = torch.tensor(encode(text, max_length))
    return labels


def generate(
    kind: str, count: int, seed: int, *, image_size: int, max_lines: int, max_length: int, min_lines: int = 1
) -> list[Sample]:
    """`count` samples of `kind` ("single" or "lines") from `seed`: the same seed gives the same set."""
    rng = np.random.default_rng(seed)
    if kind == "single":
        return [single_string(rng, image_size, max_length) for _ in range(count)]
    if kind == "lines":
        return [text_lines(rng, image_size, max_lines, max_length, min_lines) for _ in range(count)]
    raise ValueError(f"unknown sample kind {kind!r}: 'single' or 'lines'")


def preview(samples: list[Sample], path: str, columns: int = 8) -> None:
    """A contact sheet of samples with their true boxes drawn in, to look at what the model learns from."""
    size = samples[0].image.shape[0]
    rows = (len(samples) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * size, rows * size), "white")
    draw = ImageDraw.Draw(sheet)
    for index, sample in enumerate(samples):
        x, y = (index % columns) * size, (index // columns) * size
        sheet.paste(Image.fromarray(sample.image), (x, y))
        for box in sample.boxes:
            draw.rectangle((x + box[0], y + box[1], x + box[2], y + box[3]), outline=(255, 0, 0))
    sheet.save(path)
