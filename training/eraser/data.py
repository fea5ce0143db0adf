"""Generated training pairs for the learned eraser: the same image with and without text, and the text mask.

Each sample is drawn from a seed (the same seed gives the same set), at `size` x `size` pixels:

- a clean background: flat, gradient, textured or photo panels (`transmodal.synthetic.random_panel`, the
  scikit-image photos cropped, flipped and colour-jittered), or a comic-like panel: paper with line art
  (strokes, curves, circles), screentone dots and hatching, and speech-balloon ellipses or caption boxes
  with an outline;
- one to four text items over it: words in Latin (sign fonts and the comic lettering face, often in
  capitals), Cyrillic, Greek or CJK (Noto CJK; sometimes a vertical column), of varied sizes and colours,
  some with an outline stroke, some rotated; in a comic panel the first item sits in a balloon or box;
- the text image is the clean image with the text layer composited over it; sizes are log-uniform from
  7 pixels (a comic page's lettering is about 10), and 40 % of the text images are then JPEG-compressed, as
  real pages and photos come (the mask stays the true text's).

The mask is made as in the seed design ("Text Segmentation and Image Inpainting"): the pixels where the
two images differ by more than `DIFFERENCE_THRESHOLD` in any channel, grown by a 3x3 max-pool so the
anti-aliased edge is inside. It is what the segmenter learns and what the inpainter is asked to fill.
The text items' boxes and the balloon outlines are kept for the heuristic mask (which needs regions) in
the evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from transmodal import fonts, synthetic

DIFFERENCE_THRESHOLD = 20  # levels of 255: JPEG-free renders, so anything above is the text's doing
MASK_GROW = 3  # max-pool kernel: the anti-aliased edge is inside the mask
JPEG_SHARE = 0.4  # of the text images compressed as JPEG (the clean image and the mask stay exact)
BACKGROUNDS = ("flat", "gradient", "texture", "photo", "comic")

LATIN_WORDS = """
open closed exit push pull stop slow hotel coffee bread milk soup fish sale free toilet gate door floor
help police danger caution welcome hello station ticket office library kitchen market museum school beach
what where never again really sorry listen look wait hurry maybe nothing everything tomorrow tonight
house street river north south left right money friend game player level quest guild gold sword
""".split()
CYRILLIC_WORDS = "выход вход стоп улица привет спасибо магазин хлеб молоко открыто закрыто метро почта".split()
GREEK_WORDS = "έξοδος είσοδος στάση οδός καλημέρα ευχαριστώ ανοιχτό κλειστό".split()
# Common CJK characters (kana and frequent kanji/hanzi) for lines and vertical columns.
CJK_CHARACTERS = (
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "アイウエオカキクケコサシスセソタチツテトナニヌネノ"
    "日本語中国人大小山川口出入東西南北上下左右前後今何時間年月火水木金土学生先見行来"
)

LATIN_FONTS = synthetic.SIGN_FONTS + [fonts.COMIC, fonts.COMIC_BOLD]
SCRIPT_FONTS = {
    "latin": LATIN_FONTS,
    "cyrillic": [fonts.SANS, fonts.SANS_BOLD, fonts.SERIF, fonts.MONO],
    "greek": [fonts.SANS, fonts.SERIF_BOLD],
    "cjk": [fonts.CJK, fonts.CJK_BOLD],
    "comic": [fonts.COMIC, fonts.COMIC_BOLD, fonts.SANS_BOLD],
}
SCRIPTS = ("latin", "latin", "latin", "cyrillic", "greek", "cjk", "cjk")


@dataclasses.dataclass
class Sample:
    image: np.ndarray  # RGB uint8 (size, size, 3): with text
    clean: np.ndarray  # RGB uint8: the same without text
    mask: np.ndarray  # uint8 (size, size): 255 where the text is (thresholded difference, grown)
    boxes: list[tuple[int, int, int, int]]  # each text item's box (x0, y0, x1, y1)
    containers: list[list[list[float]] | None]  # each item's balloon / box outline, or None
    background: str


@functools.cache
def _installed(candidates: tuple[str, ...]) -> str | None:
    try:
        return fonts.font_path(list(candidates))
    except fonts.FontNotFoundError:
        return None


def _font_file(script: str, rng: np.random.Generator) -> str:
    choices = [path for path in (_installed(tuple(c)) for c in SCRIPT_FONTS[script]) if path]
    if not choices:  # the generator runs where the project's fonts are installed; say which are missing
        fonts.font_path(SCRIPT_FONTS[script][0])
    return choices[int(rng.integers(len(choices)))]


def _text(script: str, rng: np.random.Generator) -> str:
    if script == "cjk":
        return "".join(rng.choice(list(CJK_CHARACTERS), int(rng.integers(2, 7))))
    if script == "comic":  # a balloon's lines: one to four, of one or two words, centred
        words = [str(rng.choice(LATIN_WORDS)).upper() for _ in range(int(rng.integers(1, 7)))]
        cuts = sorted(set(int(v) for v in rng.integers(1, len(words) + 1, int(rng.integers(0, 3)))) | {len(words)})
        lines, start = [], 0
        for cut in cuts:
            lines.append(" ".join(words[start:cut]))
            start = cut
        return "\n".join(line for line in lines if line) + str(rng.choice(["", "", "!", "?", "..."]))
    words = {"latin": LATIN_WORDS, "cyrillic": CYRILLIC_WORDS, "greek": GREEK_WORDS}[script]
    text = " ".join(str(rng.choice(words)) for _ in range(int(rng.integers(1, 4))))
    if rng.random() < 0.15:
        text += str(rng.choice(["!", "?", "...", "!?"]))
    if rng.random() < 0.1:
        text = str(rng.integers(1, 999)) + " " + text
    case = rng.random()
    return text.upper() if case < 0.45 else text.capitalize() if case < 0.75 else text


def _jittered_photo_panel(size: int, rng: np.random.Generator) -> Image.Image:
    """A photo crop (random_panel's), flipped and colour-jittered so a few photos give many backgrounds."""
    panel, _, _ = synthetic.random_panel((size, size), rng, kinds=("photo",))
    pixels = np.asarray(panel, dtype=np.float32)
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    if rng.random() < 0.3:
        pixels = pixels[::-1]
    gain = rng.uniform(0.7, 1.3, 3).astype(np.float32)
    mean = pixels.mean(axis=(0, 1), keepdims=True)
    contrast = float(rng.uniform(1.0, 2.2))  # random_panel pulls photos flat: give some of their texture back
    pixels = (pixels - mean) * contrast + mean * gain + rng.uniform(-30, 30)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _comic_panel(size: int, rng: np.random.Generator) -> Image.Image:
    """Paper with line art, screentone and hatching: what lettering sits beside on a comic page."""
    paper = tuple(int(v) for v in rng.integers(225, 256, 3)) if rng.random() < 0.8 else synthetic._random_color(rng)
    image = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(image)
    ink = tuple(int(v) for v in rng.integers(0, 60, 3))
    if rng.random() < 0.5:  # screentone: a dot grid over part of the panel
        step = int(rng.integers(3, 7))
        x0, y0 = int(rng.integers(0, size // 2)), int(rng.integers(0, size // 2))
        x1, y1 = int(rng.integers(x0 + size // 4, size + 1)), int(rng.integers(y0 + size // 4, size + 1))
        radius = float(rng.uniform(0.6, step / 2.5))
        for y in range(y0, y1, step):
            for x in range(x0 + (y // step % 2) * step // 2, x1, step):
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)
    if rng.random() < 0.4:  # hatching
        angle = rng.uniform(0, math.pi)
        dx, dy = math.cos(angle) * size, math.sin(angle) * size
        for offset in range(-size, size, int(rng.integers(3, 8))):
            cx, cy = size / 2 + offset * math.sin(angle), size / 2 - offset * math.cos(angle)
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=ink, width=1)
    for _ in range(int(rng.integers(2, 9))):  # line art: strokes, curves, circles
        kind = rng.random()
        width = int(rng.integers(1, 5))
        points = [tuple(float(v) for v in rng.uniform(-0.1, 1.1, 2) * size) for _ in range(2)]
        if kind < 0.4:
            draw.line(points, fill=ink, width=width)
        elif kind < 0.7:
            box = [min(points[0][0], points[1][0]), min(points[0][1], points[1][1])]
            box += [max(points[0][0], points[1][0]) + 4, max(points[0][1], points[1][1]) + 4]
            draw.arc(box, float(rng.uniform(0, 360)), float(rng.uniform(0, 360)), fill=ink, width=width)
        else:
            center, radius = points[0], float(rng.uniform(3, size / 4))
            draw.ellipse(
                (center[0] - radius, center[1] - radius, center[0] + radius, center[1] + radius),
                outline=ink,
                width=width,
            )
    return image


def _background(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    if kind == "comic":
        return _comic_panel(size, rng)
    if kind == "photo":
        return _jittered_photo_panel(size, rng)
    panel, _, _ = synthetic.random_panel((size, size), rng, kinds=(kind,))
    return panel


def _container(draw: ImageDraw.ImageDraw, size: int, rng: np.random.Generator) -> tuple[list[list[float]], tuple]:
    """A speech balloon (ellipse) or a caption box with an outline; returns its outline and its box."""
    width, height = rng.uniform(0.45, 0.95) * size, rng.uniform(0.3, 0.7) * size
    x0, y0 = rng.uniform(0, size - width), rng.uniform(0, size - height)
    fill = (255, 255, 255) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(170, 256, 3))
    outline = tuple(int(v) for v in rng.integers(0, 50, 3))
    border = int(rng.integers(1, 4))
    box = (x0, y0, x0 + width, y0 + height)
    if rng.random() < 0.65:
        draw.ellipse(box, fill=fill, outline=outline, width=border)
        angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        polygon = [
            [x0 + width / 2 * (1 + 0.96 * math.cos(a)), y0 + height / 2 * (1 + 0.96 * math.sin(a))] for a in angles
        ]
        inner = (x0 + 0.2 * width, y0 + 0.22 * height, x0 + 0.8 * width, y0 + 0.78 * height)
    else:
        draw.rectangle(box, fill=fill, outline=outline, width=border)
        polygon = [
            [x0 + 1, y0 + 1],
            [x0 + width - 1, y0 + 1],
            [x0 + width - 1, y0 + height - 1],
            [x0 + 1, y0 + height - 1],
        ]
        inner = (x0 + 0.08 * width, y0 + 0.1 * height, x0 + 0.92 * width, y0 + 0.9 * height)
    return polygon, inner


def _ink(rng: np.random.Generator) -> tuple[int, int, int]:
    value = int(rng.integers(0, 70))
    return value, value, value


def _contrasting(background: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int]:
    """A text colour that stands out from the mean colour of the area it is drawn on."""
    luminance = float(background.mean())
    for _ in range(20):
        color = synthetic._random_color(rng)
        if abs(synthetic._luminance(color) - luminance) > 90:
            return color
    return (0, 0, 0) if luminance > 127 else (255, 255, 255)


_MEASURE = ImageDraw.Draw(Image.new("L", (1, 1)))  # measures multi-line text without drawing it


def _text_layer(
    text: str,
    script: str,
    area: tuple[float, float, float, float],
    base: np.ndarray,
    size: int,
    rng: np.random.Generator,
    rotate: bool,
    dark_ink: bool = False,
) -> tuple[Image.Image, tuple[int, int, int, int]] | None:
    """An RGBA layer (size x size) with `text` drawn to fit `area`; None when it cannot fit."""
    x0, y0, x1, y1 = area
    vertical = script == "cjk" and rng.random() < 0.3
    font_file = _font_file(script, rng)
    # Log-uniform: small lettering (a comic page's 10-pixel capitals) as often as large sign text.
    largest = max(10.0, min(y1 - y0, 0.45 * size))
    font_size = int(round(np.exp(rng.uniform(np.log(8.0), np.log(largest)))))
    stroke = int(rng.integers(1, 4)) if rng.random() < 0.2 else 0
    while font_size >= 7:
        font = fonts.load_font(font_file, font_size)
        if vertical:
            extent: tuple[float, float] = (font_size + 2 * stroke, len(text) * (font_size + 1) + 2 * stroke)
        else:
            left, top, right, bottom = _MEASURE.multiline_textbbox(
                (0, 0), text, font=font, stroke_width=stroke, align="center"
            )
            extent = (right - left, bottom - top)
        if extent[0] <= x1 - x0 and extent[1] <= y1 - y0:
            break
        font_size = int(font_size * 0.85)
    else:
        return None
    x = x0 + rng.uniform(0, x1 - x0 - extent[0])
    y = y0 + rng.uniform(0, y1 - y0 - extent[1])
    patch = base[int(y) : int(y + extent[1]) + 1, int(x) : int(x + extent[0]) + 1]
    patch = patch if patch.size else base
    # Lettering in a light balloon is nearly always black ink; elsewhere any colour that reads.
    color = _ink(rng) if dark_ink and patch.mean() > 170 and rng.random() < 0.8 else _contrasting(patch, rng)
    stroke_color = tuple(255 - v for v in color) if stroke else None
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if vertical:
        for index, char in enumerate(text):
            draw.text((x + stroke, y + stroke + index * (font_size + 1)), char, font=font, fill=color + (255,))
    else:
        left, top, _, _ = _MEASURE.multiline_textbbox((0, 0), text, font=font, stroke_width=stroke, align="center")
        draw.multiline_text(
            (x - left, y - top), text, font=font, fill=color + (255,), stroke_width=stroke, align="center",
            stroke_fill=None if stroke_color is None else stroke_color + (255,),
        )  # fmt: skip
    if rotate:
        center = (x + extent[0] / 2, y + extent[1] / 2)
        layer = layer.rotate(float(rng.uniform(-35, 35)), resample=Image.Resampling.BICUBIC, center=center)
    alpha = np.asarray(layer)[..., 3]
    ys, xs = np.nonzero(alpha > 0)
    if not len(xs):
        return None
    return layer, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def difference_mask(image: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The seed's mask: pixels differing by more than the threshold in any channel, max-pooled (grown)."""
    import cv2

    differs = (np.abs(image.astype(np.int16) - clean.astype(np.int16)).max(axis=2) > DIFFERENCE_THRESHOLD).astype(
        np.uint8
    )
    return cv2.dilate(differs, np.ones((MASK_GROW, MASK_GROW), np.uint8)) * 255


def sample(rng: np.random.Generator, size: int = 128, background: str | None = None) -> Sample:
    """One (text image, clean image, mask) triple; `background` one of BACKGROUNDS, or drawn at random."""
    kind = background or BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    clean_image = _background(kind, size, rng)
    containers: list[list[list[float]] | None] = []
    areas: list[tuple[float, float, float, float]] = []
    if kind == "comic" or rng.random() < 0.15:
        polygon, inner = _container(ImageDraw.Draw(clean_image), size, rng)
        containers.append(polygon)
        areas.append(inner)
    count = int(rng.integers(1, 4))
    while len(areas) < count:
        width, height = rng.uniform(0.3, 1.0) * size, rng.uniform(0.12, 0.5) * size
        left, top = rng.uniform(0, size - width), rng.uniform(0, size - height)
        areas.append((left, top, left + width, top + height))
        containers.append(None)
    clean = np.asarray(clean_image)
    composite = clean_image.convert("RGBA")
    boxes, kept = [], []
    for area, container in zip(areas, containers):
        # Most balloons and caption boxes hold capitals in a comic face, as letterers draw them.
        script = "comic" if container is not None and rng.random() < 0.6 else SCRIPTS[int(rng.integers(len(SCRIPTS)))]
        rotate = container is None and rng.random() < 0.3
        layer = _text_layer(_text(script, rng), script, area, clean, size, rng, rotate, dark_ink=container is not None)
        if layer is None:
            continue
        composite = Image.alpha_composite(composite, layer[0])
        boxes.append(layer[1])
        kept.append(container)
    finished = composite.convert("RGB")
    if rng.random() < 0.25:  # camera softness, the same on both images so the difference stays the text
        radius = float(rng.uniform(0.3, 0.9))
        finished = finished.filter(ImageFilter.GaussianBlur(radius))
        clean = np.asarray(Image.fromarray(clean).filter(ImageFilter.GaussianBlur(radius)))
    image = np.asarray(finished)
    if rng.random() < 0.3:  # sensor noise, also on both
        noise = rng.normal(0, rng.uniform(1, 5), image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
        clean = np.clip(clean + noise, 0, 255).astype(np.uint8)
    mask = difference_mask(image, clean)
    if rng.random() < JPEG_SHARE:  # real pages and photos come as JPEG: ringing around the letters, seen
        image = _jpeg(image, int(rng.integers(35, 95)))  # by the networks; the mask stays the true text's
    return Sample(image, np.ascontiguousarray(clean), mask, boxes, kept, kind)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def generate(count: int, seed: int, size: int = 128, background: str | None = None) -> list[Sample]:
    """`count` samples from `seed`: the same seed gives the same set."""
    rng = np.random.default_rng(seed)
    return [sample(rng, size, background) for _ in range(count)]


def stack(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, clean images, masks) as uint8 arrays (N, H, W, 3), (N, H, W, 3), (N, H, W): a quarter of
    the float tensors' size, for handing batches between processes."""
    return (
        np.stack([s.image for s in samples]),
        np.stack([s.clean for s in samples]),
        np.stack([s.mask for s in samples]),
    )


def image_tensor(pixels: np.ndarray):
    """uint8 images (N, H, W, 3) as a float tensor (N, 3, H, W) in [0, 1]."""
    import torch

    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0


def as_tensors(images: np.ndarray, clean: np.ndarray, masks: np.ndarray):
    """`stack`'s arrays as float tensors: images (N, 3, H, W) in [0, 1] and masks (N, 1, H, W) in {0, 1}."""
    import torch

    return image_tensor(images), image_tensor(clean), torch.from_numpy(masks > 0).float()[:, None]


def to_tensors(samples: list[Sample]):
    """(images, clean images, masks) of `samples` as float tensors (`as_tensors`)."""
    return as_tensors(*stack(samples))


def preview(samples: list[Sample], path: str, columns: int = 8) -> None:
    """A contact sheet: each sample's text image above its mask, to look at what the models learn from."""
    size = samples[0].image.shape[0]
    rows = (len(samples) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * size, rows * 2 * size), "white")
    for index, item in enumerate(samples):
        x, y = (index % columns) * size, (index // columns) * 2 * size
        sheet.paste(Image.fromarray(item.image), (x, y))
        sheet.paste(Image.fromarray(item.mask).convert("RGB"), (x, y + size))
    sheet.save(path)
