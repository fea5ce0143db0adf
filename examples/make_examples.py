"""Regenerates the example images that `make demo` translates (deterministic; the PNGs are committed).

.venv/bin/python examples/make_examples.py
"""

import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from transmodal import fonts
from transmodal.synthetic import make_sign

HERE = os.path.dirname(os.path.abspath(__file__))


def skimage_photo(name: str, size: tuple[int, int]) -> Image.Image:
    import skimage

    path = os.path.join(os.path.dirname(skimage.__file__), "data", name)
    return Image.open(path).convert("RGB").resize(size)


def draw_lines(draw, lines, font_file, size, center_x, top, fill, spacing=1.3):
    font = fonts.load_font(font_file, size)
    for index, line in enumerate(lines):
        width = font.getbbox(line)[2]
        draw.text((center_x - width / 2, top + index * size * spacing), line, font=font, fill=fill)


def street_sign() -> Image.Image:
    """A blue direction sign on a blurred street photo."""
    image = skimage_photo("rocket.jpg", (1024, 768)).filter(ImageFilter.GaussianBlur(4))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((162, 250, 862, 520), radius=24, fill=(20, 70, 150), outline=(240, 240, 240), width=8)
    draw_lines(
        draw,
        ["Welcome to the museum", "Open every day"],
        fonts.font_path(fonts.SANS_BOLD),
        50,
        512,
        310,
        (250, 250, 250),
    )
    return image


def cafe_board() -> Image.Image:
    """A chalkboard-like menu panel over a coffee photo."""
    image = skimage_photo("coffee.png", (1024, 768))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 600, 420), fill=(35, 45, 40))
    draw_lines(draw, ["Fresh bread", "and coffee"], fonts.font_path(fonts.SERIF_BOLD), 64, 330, 110, (240, 230, 200))
    draw_lines(draw, ["Hot soup", "Cold drinks"], fonts.font_path(fonts.SANS), 44, 330, 280, (250, 210, 120))
    return image


def comic_panel() -> Image.Image:
    """Two speech balloons over a drawn scene, as on a comic or manga page."""
    rng = np.random.default_rng(4)
    sky = np.linspace([150, 200, 235], [235, 240, 250], 768).astype(np.uint8)[:, None, :].repeat(1024, axis=1)
    image = Image.fromarray(sky)
    draw = ImageDraw.Draw(image)
    for x in range(0, 1024, 128):  # houses
        height = int(rng.integers(220, 360))
        draw.rectangle(
            (x + 8, 768 - height, x + 120, 768),
            fill=tuple(int(v) for v in rng.integers(90, 200, 3)),
            outline=(20, 20, 20),
            width=4,
        )
    font_file = fonts.font_path(fonts.SANS_BOLD)
    for box, tail, lines in (
        ((60, 50, 520, 250), (300, 250, 340, 330), ["Good morning!"]),
        ((500, 330, 980, 560), (700, 560, 660, 650), ["The library is", "closed today"]),
    ):
        draw.polygon(
            [(tail[0] - 30, tail[1] - 10), (tail[0] + 30, tail[1] - 10), (tail[2], tail[3])],
            fill="white",
            outline=(0, 0, 0),
        )
        draw.ellipse(box, fill="white", outline=(0, 0, 0), width=5)
        center_x = (box[0] + box[2]) / 2
        top = (box[1] + box[3]) / 2 - 22 * len(lines) * 1.3
        draw_lines(draw, lines, font_file, 44, center_x, top, (10, 10, 10))
    return image


def notice() -> Image.Image:
    """A printed notice on textured paper."""
    sign = make_sign(
        ["Emergency exit", "No smoking"],
        size=(1024, 768),
        background="texture",
        text_color=(150, 20, 20),
        background_color=(235, 228, 205),
        font_size=60,
        seed=2,
    )
    return Image.fromarray(sign.image)


if __name__ == "__main__":
    for name, make in (("street-sign", street_sign), ("cafe", cafe_board), ("comic", comic_panel), ("notice", notice)):
        path = os.path.join(HERE, f"{name}.png")
        make().save(path, optimize=True)
        print(f"wrote {path}")
