"""TextRenderer: translations drawn into their regions, fitted, in the original's colour, readable."""

import numpy as np
import pytest
from docarray import DocList

from executors.text_renderer.executor import TextRenderer
from transmodal import fonts
from transmodal.docs import MediaDoc, TextRegion, TextStyle
from transmodal.media import decode_image, encode_image
from tiny_models import sign_and_background

SANS = fonts.font_path(fonts.SANS)


def region_of(sign, translation: str, **style) -> TextRegion:
    boxes = sign.line_boxes
    x0, y0 = min(box[0] for box in boxes), min(box[1] for box in boxes)
    x1, y1 = max(box[2] for box in boxes), max(box[3] for box in boxes)
    style.setdefault("color", list(sign.text_color))
    style.setdefault("font_size", float(np.median([box[3] - box[1] for box in boxes])))
    return TextRegion(polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]], lines=[list(box) for box in boxes],
                      text="\n".join(sign.lines), translation=translation, style=TextStyle(**style))


def render(renderer, image: np.ndarray, *regions: TextRegion) -> np.ndarray:
    doc = MediaDoc(image=encode_image(image), regions=list(regions))
    renderer.render(DocList[MediaDoc]([doc]))
    assert doc.error is None, doc.error
    return decode_image(doc.image)


def ink_of(before: np.ndarray, after: np.ndarray, threshold: int = 40) -> np.ndarray:
    return np.abs(after.astype(int) - before.astype(int)).max(axis=2) > threshold


def bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture(scope="module")
def renderer():
    return TextRenderer()


def test_spanish_translation_is_drawn_readable_in_its_box_and_colour(renderer):
    pytesseract = pytest.importorskip("pytesseract")
    sign, background = sign_and_background(["Welcome to the museum"], font_file=SANS, background="flat",
                                   text_color=(25, 25, 90), background_color=(240, 235, 215), font_size=40, seed=0)
    region = region_of(sign, "Bienvenido al museo")
    rendered = render(renderer, background, region)

    read = pytesseract.image_to_string(rendered, lang="spa").lower().split()
    assert {"bienvenido", "museo"} <= set(read), read

    ink = ink_of(background, rendered)
    x0, y0, x1, y1 = region.box
    ink_x0, ink_y0, ink_x1, ink_y1 = bounds(ink)
    assert ink_x0 >= x0 - 2 and ink_y0 >= y0 - 2 and ink_x1 <= x1 + 2 and ink_y1 <= y1 + 2
    # As large as the original, near enough: the ink is most of the box's height.
    assert ink_y1 - ink_y0 >= 0.75 * (y1 - y0)
    # The strokes' solid cores have the text colour (their edges blend into the background).
    difference = np.abs(rendered.astype(int) - background.astype(int)).max(axis=2)
    core = difference >= np.percentile(difference[ink], 75)
    assert np.abs(np.median(rendered[core], axis=0) - sign.text_color).max() <= 10


def test_a_long_translation_is_wrapped_smaller_and_kept_whole(renderer):
    pytesseract = pytest.importorskip("pytesseract")
    sign, background = sign_and_background(["Hot soup"], font_file=SANS, background="flat", text_color=(20, 20, 20),
                                   background_color=(250, 250, 250), font_size=40, seed=1)
    translation = "Sopa caliente de verduras frescas del mercado"
    region = region_of(sign, translation)
    rendered = render(renderer, background, region)
    ink = ink_of(background, rendered)
    rows = np.flatnonzero(ink.any(axis=1))
    lines = 1 + int(np.sum(np.diff(rows) > 1))
    assert lines >= 2  # wrapped
    x0, y0, x1, y1 = region.box
    ink_x0, ink_y0, ink_x1, ink_y1 = bounds(ink)
    # It may spread into the free space around the box, but only so far.
    assert ink_x1 - ink_x0 <= 1.6 * (x1 - x0) and ink_y1 - ink_y0 <= (y1 - y0) + 3.5 * region.style.font_size
    read = set(pytesseract.image_to_string(rendered, lang="spa").lower().split())
    assert len(read & set(translation.lower().split())) >= 5, read


def test_text_does_not_spread_over_a_picture_and_is_never_dropped():
    # A stripe pattern all around the box: no free space, so the text must shrink inside the box instead.
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, ::4] = 255
    image[80:120, 50:250] = 128
    region = TextRegion(polygon=[[60, 85], [240, 85], [240, 115], [60, 115]], lines=[[60, 85, 240, 115]],
                        text="Exit", translation="Salida de emergencia por la puerta principal del edificio",
                        style=TextStyle(font_size=30, color=[255, 255, 0]))
    rendered = render(TextRenderer(outline="never"), image, region)
    yellow = (rendered[..., 0] > 150) & (rendered[..., 1] > 150) & (rendered[..., 2] < 100)
    assert yellow.sum() > 50
    ink_x0, ink_y0, ink_x1, ink_y1 = bounds(yellow)
    assert ink_x0 >= 58 and ink_x1 <= 242 and ink_y0 >= 83 and ink_y1 <= 117


def test_cjk_translation_uses_a_font_with_its_glyphs(renderer):
    text = "新鮮なパン"
    path = fonts.font_for_text(text)
    assert fonts.covers(path, text) and not fonts.covers(fonts.font_path(fonts.SANS), text)
    sign, background = sign_and_background(["Fresh bread"], font_file=SANS, background="flat", text_color=(200, 30, 30),
                                   background_color=(255, 255, 255), font_size=40, seed=2)
    rendered = render(renderer, background, region_of(sign, text))
    ink = ink_of(background, rendered)
    assert ink.sum() > 500
    # Missing glyphs would come out as identical boxes ("tofu"): real glyphs differ from one another.
    x0, _, x1, _ = bounds(ink)
    columns = np.array_split(ink[:, x0:x1], len(text), axis=1)
    assert len({column.tobytes() for column in columns}) == len(text)


def test_vertical_japanese_is_drawn_in_columns(renderer):
    background = np.full((300, 200, 3), 255, np.uint8)
    region = TextRegion(polygon=[[60, 20], [140, 20], [140, 280], [60, 280]],
                        lines=[[100, 20, 140, 280], [60, 20, 100, 200]], text="",
                        translation="こんにちは、今日はいい天気",
                        style=TextStyle(font_size=30, color=[0, 0, 0], direction="vertical"))
    rendered = render(renderer, background, region)
    ink = ink_of(background, rendered)
    x0, y0, x1, y1 = bounds(ink)
    assert y1 - y0 > 2 * (x1 - x0)  # tall columns, not a wide line
    assert x0 >= 55 and x1 <= 145 and y0 >= 15 and y1 <= 285
    # Two columns, the first on the right.
    occupied = ink.any(axis=0)
    assert np.sum(np.diff(occupied.astype(int)) == 1) == 2


def test_outline_where_contrast_is_low_and_only_there():
    grey = np.full((120, 360, 3), 150, np.uint8)
    low = TextRegion(polygon=[[20, 40], [340, 40], [340, 80], [20, 80]], lines=[[20, 40, 340, 80]], text="No smoking",
                     translation="Prohibido fumar", style=TextStyle(font_size=40, color=[175, 175, 175],
                                                                    background_color=[20, 20, 60]))
    outlined = render(TextRenderer(), grey, low)
    navy = np.abs(outlined.astype(int) - [20, 20, 60]).max(axis=2) < 40
    assert navy.sum() > 200

    plain = render(TextRenderer(outline="never"), grey, low.model_copy(deep=True))
    assert (np.abs(plain.astype(int) - [20, 20, 60]).max(axis=2) < 40).sum() == 0

    # Black on white reads well: no outline, even though a (red) background colour is known.
    white = np.full((120, 360, 3), 255, np.uint8)
    high = low.model_copy(deep=True)
    high.style.color, high.style.background_color = [0, 0, 0], [220, 0, 0]
    rendered = render(TextRenderer(), white, high)
    red = (rendered[..., 0] > 150) & (rendered[..., 1] < 80)
    assert red.sum() == 0


def test_missing_colour_contrasts_with_the_background(renderer):
    dark = np.full((80, 300, 3), 20, np.uint8)
    region = TextRegion(polygon=[[10, 20], [290, 20], [290, 60], [10, 60]], text="Exit", translation="Salida",
                        style=TextStyle(font_size=40))
    rendered = render(renderer, dark, region)
    assert rendered.max() >= 240  # white text on the dark background


def test_corrupt_image_fails_only_its_document(renderer):
    region = TextRegion(polygon=[[10, 10], [100, 10], [100, 40], [10, 40]], text="Hot soup", translation="Sopa")
    bad = MediaDoc(image=b"GIF89a broken", regions=[region])
    good = MediaDoc(image=encode_image(np.full((60, 120, 3), 255, np.uint8)), regions=[region.model_copy(deep=True)])
    renderer.render(DocList[MediaDoc]([bad, good]))
    assert bad.error and bad.error_stage == "TextRenderer"
    assert good.error is None and decode_image(good.image).min() < 100
