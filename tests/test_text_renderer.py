"""TextRenderer: translations drawn into their regions or containers, fitted, in the original's colour, readable,
never over another block."""

import cv2
import numpy as np
import pytest
from docarray import DocList
from tiny_models import sign_and_background

from executors.text_renderer.backends import PillowLayout, hyphenation_points
from executors.text_renderer.executor import TextRenderer
from transmodal import fonts
from transmodal.docs import MediaDoc, TextRegion, TextStyle
from transmodal.media import decode_image, encode_image

SANS = fonts.font_path(fonts.SANS)


def region_of(sign, translation: str, **style) -> TextRegion:
    boxes = sign.line_boxes
    x0, y0 = min(box[0] for box in boxes), min(box[1] for box in boxes)
    x1, y1 = max(box[2] for box in boxes), max(box[3] for box in boxes)
    style.setdefault("color", list(sign.text_color))
    style.setdefault("font_size", float(np.median([box[3] - box[1] for box in boxes])))
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[list(box) for box in boxes],
        text="\n".join(sign.lines),
        translation=translation,
        style=TextStyle(**style),
    )


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
    sign, background = sign_and_background(
        ["Welcome to the museum"],
        font_file=SANS,
        background="flat",
        text_color=(25, 25, 90),
        background_color=(240, 235, 215),
        font_size=40,
        seed=0,
    )
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
    sign, background = sign_and_background(
        ["Hot soup"],
        font_file=SANS,
        background="flat",
        text_color=(20, 20, 20),
        background_color=(250, 250, 250),
        font_size=40,
        seed=1,
    )
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
    region = TextRegion(
        polygon=[[60, 85], [240, 85], [240, 115], [60, 115]],
        lines=[[60, 85, 240, 115]],
        text="Exit",
        translation="Salida de emergencia por la puerta principal del edificio",
        style=TextStyle(font_size=30, color=[255, 255, 0]),
    )
    rendered = render(TextRenderer(outline="never"), image, region)
    yellow = (rendered[..., 0] > 150) & (rendered[..., 1] > 150) & (rendered[..., 2] < 100)
    assert yellow.sum() > 50
    ink_x0, ink_y0, ink_x1, ink_y1 = bounds(yellow)
    assert ink_x0 >= 58 and ink_x1 <= 242 and ink_y0 >= 83 and ink_y1 <= 117


def test_cjk_translation_uses_a_font_with_its_glyphs(renderer):
    text = "新鮮なパン"
    path = fonts.font_for_text(text)
    assert fonts.covers(path, text) and not fonts.covers(fonts.font_path(fonts.SANS), text)
    sign, background = sign_and_background(
        ["Fresh bread"],
        font_file=SANS,
        background="flat",
        text_color=(200, 30, 30),
        background_color=(255, 255, 255),
        font_size=40,
        seed=2,
    )
    rendered = render(renderer, background, region_of(sign, text))
    ink = ink_of(background, rendered)
    assert ink.sum() > 500
    # Missing glyphs would come out as identical boxes ("tofu"): real glyphs differ from one another.
    x0, _, x1, _ = bounds(ink)
    columns = np.array_split(ink[:, x0:x1], len(text), axis=1)
    assert len({column.tobytes() for column in columns}) == len(text)


def test_vertical_japanese_is_drawn_in_columns(renderer):
    background = np.full((300, 200, 3), 255, np.uint8)
    region = TextRegion(
        polygon=[[60, 20], [140, 20], [140, 280], [60, 280]],
        lines=[[100, 20, 140, 280], [60, 20, 100, 200]],
        text="",
        translation="こんにちは、今日はいい天気",
        style=TextStyle(font_size=30, color=[0, 0, 0], direction="vertical"),
    )
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
    low = TextRegion(
        polygon=[[20, 40], [340, 40], [340, 80], [20, 80]],
        lines=[[20, 40, 340, 80]],
        text="No smoking",
        translation="Prohibido fumar",
        style=TextStyle(font_size=40, color=[175, 175, 175], background_color=[20, 20, 60]),
    )
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
    region = TextRegion(
        polygon=[[10, 20], [290, 20], [290, 60], [10, 60]],
        text="Exit",
        translation="Salida",
        style=TextStyle(font_size=40),
    )
    rendered = render(renderer, dark, region)
    assert rendered.max() >= 240  # white text on the dark background


# Comic pages and signs: containers, neighbours, untouched text, capitals, overflow and the self-check.


def ellipse(centre, axes) -> list[list[float]]:
    return cv2.ellipse2Poly(centre, axes, 0, 0, 360, 5).astype(float).tolist()


def mask_of(polygon, shape) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon)).astype(np.int32)], 1)
    return mask.astype(bool)


def balloon_page(width: int = 320, height: int = 240, *balloons) -> np.ndarray:
    """A white page with black-outlined speech balloons (their insides already erased)."""
    page = np.full((height, width, 3), 255, np.uint8)
    for polygon in balloons:
        cv2.polylines(page, [np.round(np.asarray(polygon)).astype(np.int32)], True, (0, 0, 0), 2)
    return page


def balloon(container, text: str, translation: str, box=None, **fields) -> TextRegion:
    """A balloon region: its text box is the middle of its container unless given."""
    points = np.asarray(container)
    if box is None:
        centre, half = points.mean(axis=0), (points.max(axis=0) - points.min(axis=0)) / 4
        box = [*(centre - half), *(centre + half)]
    x0, y0, x1, y1 = box
    fields.setdefault("style", TextStyle(font_size=16, color=[0, 0, 0], alignment="center"))
    fields.setdefault("kind", "balloon")
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        text=text,
        translation=translation,
        container=container,
        **fields,
    )


def test_a_long_translation_stays_inside_its_balloon_and_follows_its_shape(renderer):
    container = ellipse((160, 120), (130, 90))
    page = balloon_page(320, 240, container)
    region = balloon(
        container,
        "WHAT A DAY!",
        "¡QUÉ DÍA TAN EXTRAORDINARIO! NUNCA HABÍA VISTO TANTA GENTE REUNIDA EN LA PLAZA DEL PUEBLO",
    )
    rendered = render(renderer, page, region)
    ink = ink_of(page, rendered)
    inside = mask_of(container, page.shape)
    assert ink.sum() > 500
    assert not (ink & ~inside).any()  # not one drawn pixel outside the balloon
    assert "overflow" not in region.flags and "illegible" not in region.flags
    # The lines follow the ellipse: the middle line is longer than the first and the last.
    rows = np.flatnonzero(ink.any(axis=1))
    lines = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(lines) >= 3
    widths = [np.ptp(np.flatnonzero(ink[line].any(axis=0))) for line in lines]
    assert max(widths[1:-1]) > 1.2 * max(widths[0], widths[-1])
    assert max(widths) > 1.3 * (region.box[2] - region.box[0])  # the balloon's room, not only the text's box
    # drawn_box is where the ink is.
    assert np.allclose(region.drawn_box, bounds(ink), atol=1)


def test_a_sign_translation_stays_on_its_panel():
    # A light panel on a dark wall: the translation is longer than the source, yet stays on the panel.
    image = np.full((160, 400, 3), 40, np.uint8)
    image[50:110, 120:280] = 230
    panel = [[120, 50], [280, 50], [280, 110], [120, 110]]
    region = TextRegion(
        polygon=[[140, 65], [260, 65], [260, 95], [140, 95]],
        lines=[[140, 65, 260, 95]],
        text="Exit",
        translation="Salida de emergencia",
        kind="sign",
        container=panel,
        style=TextStyle(font_size=30, color=[0, 0, 0], alignment="center"),
    )
    rendered = render(TextRenderer(), image, region)
    ink = ink_of(image, rendered)
    assert ink.sum() > 200
    assert not (ink & ~mask_of(panel, image.shape)).any()


def test_a_translation_keeps_clear_of_a_signs_arrow(renderer):
    """The panel of a road sign, its lettering erased and its arrow kept: the longer translation is drawn
    on the panel but not over the arrow (a traveller needs it)."""
    from scenes import sign_with_arrow

    image, panel, line_box, arrow = sign_with_arrow()
    x0, y0, x1, y1 = line_box
    image[y0:y1, x0:x1][~arrow[y0:y1, x0:x1]] = (20, 45, 30)  # the letters erased, as the TextEraser does
    region = TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[[x0, y0, x1, y1]],
        text="Sports Centre",
        translation="Centro de deportes y piscina municipal de la ciudad",
        kind="sign",
        container=panel,
        style=TextStyle(font_size=40, color=[235, 235, 235], alignment="left"),
    )
    rendered = render(renderer, image, region)
    ink = ink_of(image, rendered)
    assert ink.sum() > 500
    ax0, ay0, ax1, ay1 = bounds(arrow)
    assert not ink[ay0 : ay1 + 1, ax0 : ax1 + 1].any()  # not one drawn pixel on the arrow or in its box


def test_a_label_on_a_larger_panel_is_drawn_where_it_was(renderer):
    """A switch's "OFF" on its plate (a real comic page has one): the translation goes where the label was,
    at about its size, not to the middle of the plate, where the switch is."""
    plate = [[40, 20], [280, 20], [280, 300], [40, 300]]
    page = balloon_page(320, 320, plate)
    cv2.rectangle(page, (110, 40), (210, 150), (40, 40, 40), -1)  # the switch, above the label
    label = balloon(plate, "OFF", "FUERA", box=[130, 200, 190, 230])
    label.style = TextStyle(font_size=30, color=[0, 0, 0], alignment="center")
    rendered = render(renderer, page, label)
    x0, y0, x1, y1 = label.drawn_box
    assert abs((y0 + y1) / 2 - 215) <= 12 and abs((x0 + x1) / 2 - 160) <= 30  # where "OFF" was
    assert y1 - y0 >= 18  # about the label's size
    assert not (ink_of(page, rendered) & ~mask_of(plate, page.shape)).any()


def test_neighbouring_blocks_never_overlap(renderer):
    # Two captions on open background, close together: each translation may grow, but never onto the other.
    page = np.full((200, 420, 3), 250, np.uint8)
    left = TextRegion(
        polygon=[[20, 80], [200, 80], [200, 110], [20, 110]],
        lines=[[20, 80, 200, 110]],
        text="Fresh fish",
        translation="Pescado fresco del puerto cada mañana",
        style=TextStyle(font_size=30, color=[0, 0, 0], alignment="left"),
    )
    right = TextRegion(
        polygon=[[212, 80], [400, 80], [400, 110], [212, 110]],
        lines=[[212, 80, 400, 110]],
        text="Cold drinks",
        translation="Bebidas frías y zumos naturales de fruta",
        style=TextStyle(font_size=30, color=[0, 0, 0], alignment="center"),
    )
    render(renderer, page, left, right)
    a, b = left.drawn_box, right.drawn_box
    assert a and b
    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]  # disjoint
    # Nor onto the other's original text.
    assert a[2] <= right.box[0] or a[3] <= right.box[1] or a[1] >= right.box[3]
    assert b[0] >= left.box[2] or b[3] <= left.box[1] or b[1] >= left.box[3]


def test_two_blocks_in_one_balloon_share_it_without_overlapping(renderer):
    container = ellipse((160, 120), (140, 100))
    page = balloon_page(320, 240, container)
    top = balloon(container, "HEY!", "¡OYE, TÚ, EL DE LA GORRA ROJA!", box=[110, 60, 210, 95])
    bottom = balloon(container, "COME HERE.", "VEN AQUÍ AHORA MISMO, POR FAVOR.", box=[110, 140, 210, 175])
    rendered = render(renderer, page, top, bottom)
    a, b = top.drawn_box, bottom.drawn_box
    assert a and b and (a[3] <= b[1] or b[3] <= a[1] or a[2] <= b[0] or b[2] <= a[0])
    assert not (ink_of(page, rendered) & ~mask_of(container, page.shape)).any()


def test_an_untouched_region_stays_pixel_identical(renderer):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (120, 300, 3), dtype=np.uint8)
    code = TextRegion(
        polygon=[[10, 10], [140, 10], [140, 50], [10, 50]],
        text="A-1234",
        translation="A-1234",
        flags=["untouched"],
        style=TextStyle(font_size=30),
    )
    word = TextRegion(
        polygon=[[160, 60], [290, 60], [290, 100], [160, 100]],
        text="Exit",
        translation="Salida",
        style=TextStyle(font_size=30, color=[255, 255, 0]),
    )
    rendered = render(renderer, photo, code, word)
    assert np.array_equal(rendered[:60, :150], photo[:60, :150])
    assert code.drawn_box == [] and word.drawn_box
    # A page whose only region is untouched comes back exactly as it was.
    assert np.array_equal(render(renderer, photo, code.model_copy(deep=True)), photo)


def test_the_erasers_uncompressed_hand_over_leaves_as_png_drawn_into_or_not(renderer):
    photo = np.random.default_rng(0).integers(0, 256, (120, 300, 3), dtype=np.uint8)
    code = TextRegion(polygon=[[10, 10], [140, 10], [140, 50], [10, 50]], text="A-1234", flags=["untouched"])
    word = TextRegion(polygon=[[160, 60], [290, 60], [290, 100], [160, 100]], text="Exit", translation="Salida")
    for regions in ([code], [code, word]):
        doc = MediaDoc(image=encode_image(photo, "BMP"), regions=regions)
        renderer.render(DocList[MediaDoc]([doc]))
        assert doc.error is None and bytes(doc.image).startswith(b"\x89PNG")
        assert np.array_equal(decode_image(doc.image)[:60, :150], photo[:60, :150])


def test_capitals_are_restored_when_the_source_was_lettered_in_capitals(renderer):
    container = ellipse((150, 90), (120, 70))
    page = balloon_page(300, 180, container)

    def drawn(text: str, translation: str, **options) -> np.ndarray:
        return render(TextRenderer(**options), page, balloon(container, text, translation))

    capitals = drawn("WHERE ARE YOU GOING?", "¿Adónde vas?")
    assert np.array_equal(capitals, drawn("WHERE ARE YOU GOING?", "¿ADÓNDE VAS?"))
    assert not np.array_equal(capitals, drawn("Where are you going?", "¿Adónde vas?"))
    # Lettering in capitals gets the comic face (Comic Neue, from fonts-comic-neue) unless turned off.
    comic = fonts.comic_font(bold=True)
    if comic is None:
        pytest.skip("fonts-comic-neue is not installed")
    assert np.array_equal(capitals, drawn("WHERE ARE YOU GOING?", "¿Adónde vas?", comic_font=comic))
    assert not np.array_equal(capitals, drawn("WHERE ARE YOU GOING?", "¿Adónde vas?", comic_font="never"))


def test_an_impossible_fit_is_drawn_small_clipped_and_flagged_overflow(renderer):
    container = [[100, 50], [150, 50], [150, 70], [100, 70]]  # a caption box of 50 x 20 pixels
    page = balloon_page(260, 120, container)
    region = balloon(container, "NO.", "ESTO NO CABE DE NINGUNA MANERA EN UNA CAJA TAN PEQUEÑA", kind="caption")
    rendered = render(renderer, page, region)
    ink = ink_of(page, rendered)
    assert "overflow" in region.flags
    assert ink.sum() > 30 and not (ink & ~mask_of(container, page.shape)).any()
    assert region.drawn_box and region.drawn_box[0] >= 100 and region.drawn_box[2] <= 151


def test_balloons_share_one_size_and_only_a_crowded_one_shrinks():
    big, small, other, crowded = (
        ellipse((100, 100), (90, 70)),
        ellipse((260, 60), (60, 40)),
        ellipse((260, 160), (60, 40)),
        ellipse((400, 100), (55, 40)),
    )
    page = balloon_page(480, 220, big, small, other, crowded)
    style = TextStyle(font_size=40, color=[0, 0, 0], alignment="center")

    def heights(**options) -> list[int]:
        regions = [
            balloon(big, "HI!", "¡HOLA!", style=style),
            balloon(small, "HI!", "¡HOLA!", style=style),
            balloon(other, "HI!", "¡HOLA!", style=style),
            balloon(crowded, "HI!", "¡HOLA! ¿CÓMO ESTÁS? ¿QUÉ TAL TODO POR CASA?", style=style),
        ]
        render(TextRenderer(**options), page, *regions)
        return [region.drawn_box[3] - region.drawn_box[1] for region in regions]

    alone = heights(same_size=False)
    assert alone[0] > 1.3 * alone[1]  # on its own the big balloon would get much larger text
    shared = heights()
    assert abs(shared[0] - shared[1]) <= 1 and abs(shared[1] - shared[2]) <= 1  # one size for the page
    assert shared[3] > 0


def test_low_contrast_is_rescued_by_a_deeper_colour_or_an_outline_or_flagged_illegible():
    grey = np.full((100, 300, 3), 128, np.uint8)
    region = TextRegion(
        polygon=[[20, 30], [280, 30], [280, 70], [20, 70]],
        text="Exit",
        translation="Salida",
        style=TextStyle(font_size=36, color=[120, 120, 120]),
    )
    # Faint grey on grey, as photographed lettering often is: drawn in the same grey made deeper, no outline.
    plain = region.model_copy(deep=True)
    rendered = render(TextRenderer(outline="never"), grey, plain)
    assert "illegible" not in plain.flags
    assert (rendered.max(axis=2) < 60).sum() > 100 and (rendered.min(axis=2) > 140).sum() == 0
    # Neither black nor white reaches the contrast asked for, and no outline may help: flagged.
    hopeless = region.model_copy(deep=True)
    render(TextRenderer(outline="never", min_contrast=6.0), grey, hopeless)
    assert "illegible" in hopeless.flags
    rescued = region.model_copy(deep=True)
    rendered = render(TextRenderer(), grey, rescued)
    assert "illegible" not in rescued.flags
    assert (rendered.max(axis=2) > 230).sum() + (rendered.max(axis=2) < 25).sum() > 100  # a black/white outline
    # An outline in the source's background colour that does not set the text off well enough: the self-check
    # draws it again with a deeper fill (or, failing that, a black outline).
    faint = region.model_copy(deep=True)
    faint.style.background_color = [200, 200, 200]
    rendered = render(TextRenderer(), grey, faint)
    assert "illegible" not in faint.flags
    assert (rendered.max(axis=2) < 80).sum() > 100


def test_a_word_longer_than_the_line_is_hyphenated():
    layouts = PillowLayout()
    area = np.ones((200, 150), bool)
    word = "Donaudampfschifffahrtsgesellschaft"
    layout = layouts.fit(word, SANS, area, 30, 9, hyphenate=hyphenation_points)
    assert len(layout.lines) >= 2 and layout.lines[0].endswith("-")
    assert "".join(line.removesuffix("-") for line in layout.lines) == word
    # Short words are never split.
    layout = layouts.fit("Ein kleines Haus am Meer", SANS, area, 30, 9, hyphenate=hyphenation_points)
    assert not any(line.endswith("-") for line in layout.lines)


def _lettered(lines: list[tuple[str, tuple[int, int], int]]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 240), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    for text, origin, size in lines:
        draw.text(origin, text, font=ImageFont.truetype(fonts.font_path(fonts.SANS), size), fill=(20, 20, 20))
    return np.asarray(image)


def _box_polygon(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def test_self_check_flags_source_left_and_illegible_blocks_only():
    from executors.text_renderer.self_check import check_regions
    from transmodal.ocr.tesseract import TesseractEngine

    # Block 1: source erased, translation drawn large. Block 2: source still there (erasing missed it),
    # translation drawn at 5 pixels, which no reader can read. The source is looked for in the erased image.
    erased = _lettered([("DOUBLE PARKING", (20, 130), 36)])
    image = _lettered(
        [("PROHIBIDO APARCAR", (20, 20), 36), ("DOUBLE PARKING", (20, 130), 36), ("TOTALMENTE", (400, 200), 5)]
    )
    clean = TextRegion(text="NO PARKING", translation="PROHIBIDO APARCAR", polygon=_box_polygon(15, 15, 420, 65))
    clean.drawn_box = [15.0, 15.0, 420.0, 65.0]
    missed = TextRegion(
        text="DOUBLE PARKING", translation="TOTALMENTE PROHIBIDO", polygon=_box_polygon(15, 125, 360, 175)
    )
    missed.drawn_box = [398.0, 198.0, 440.0, 208.0]
    untouched = TextRegion(
        text="GM 125", translation="GM 125", polygon=_box_polygon(500, 20, 600, 60), flags=["untouched"]
    )
    check_regions(TesseractEngine(), image, erased, [clean, missed, untouched], "en", "es")
    assert clean.flags == []
    assert set(missed.flags) == {"source_left", "illegible"}
    assert untouched.flags == ["untouched"]


def test_renderer_self_check_can_be_turned_off():
    assert TextRenderer(self_check=False).checker is None
    assert TextRenderer().checker is not None


def test_overlapping_boxes_of_neighbouring_blocks_are_shared_at_the_middle():
    from executors.text_renderer.executor import separate_boxes

    stacked = separate_boxes([(0, 0, 100, 40), (0, 30, 100, 70), None])
    assert stacked == [(0, 0, 100, 35.0), (0, 35.0, 100, 70), None]
    side_by_side = separate_boxes([(0, 0, 60, 100), (50, 0, 120, 100)])
    assert side_by_side == [(0, 0, 55.0, 100), (55.0, 0, 120, 100)]
    nested = [(0, 0, 200, 200), (50, 50, 80, 80)]
    assert separate_boxes(nested) == nested


def test_a_paragraph_whose_box_overlaps_its_neighbours_still_fits():
    # Two paragraphs of a photographed page: their line boxes overlap by a third of a line (a curved page
    # makes them tall). Each must keep its half of the shared band, not lose all of it to the other.
    image = np.full((140, 420, 3), 235, np.uint8)
    text = "the markers are found at the two extreme parts of the histogram of grey values"
    regions = [
        TextRegion(
            polygon=[[5, y0], [415, y0], [415, y0 + 42], [5, y0 + 42]],
            lines=[[5, y0, 415, y0 + 24], [5, y0 + 18, 415, y0 + 42]],
            text=text,
            translation="los marcadores están encontrados en las dos partes extremas del histograma de valores grises",
            style=TextStyle(font_size=21),
        )
        for y0 in (10, 40, 70)
    ]
    doc = MediaDoc(image=encode_image(image), regions=regions, source_lang="en", target_lang="es")
    out = TextRenderer(self_check=False).render(DocList[MediaDoc]([doc]), parameters={})[0]
    assert all("overflow" not in region.flags for region in out.regions), [r.flags for r in out.regions]


class FirstReadingFails:
    """Tesseract, except that the first reading of the drawn translations finds nothing (as it does for
    lettering over a busy picture whose colours pass the contrast check): the subject is the retry."""

    def __init__(self):
        from transmodal.ocr.tesseract import TesseractEngine

        self.engine = TesseractEngine()
        self.target_readings = 0

    def read_blocks(self, pixels, boxes, language, processes=1):
        if language == "es":
            self.target_readings += 1
            if self.target_readings == 1:
                return [""] * len(boxes)
        return self.engine.read_blocks(pixels, boxes, language, processes)


def rendered_with_checker(checker) -> tuple[np.ndarray, TextRegion]:
    """Dark grey "Salida" on light grey (colours that pass the contrast check), read back by `checker`."""
    region = TextRegion(
        polygon=[[20, 30], [300, 30], [300, 70], [20, 70]],
        text="Exit",
        translation="Salida",
        style=TextStyle(font_size=36, color=[40, 40, 40]),
    )
    light = np.full((100, 320, 3), 200, np.uint8)
    doc = MediaDoc(image=encode_image(light), regions=[region], source_lang="en", target_lang="es")
    renderer = TextRenderer()
    renderer.checker = checker
    renderer.render(DocList[MediaDoc]([doc]))
    return decode_image(doc.image), doc.regions[0]


def test_a_block_the_self_check_cannot_read_is_drawn_again_with_a_strong_outline():
    checker = FirstReadingFails()
    rendered, region = rendered_with_checker(checker)
    assert checker.target_readings == 2  # read, drawn again, read again
    assert "illegible" not in region.flags
    # drawn again in the colours that contrast most: black text with a white outline
    assert (rendered.max(axis=2) < 20).sum() > 100 and (rendered.min(axis=2) > 240).sum() > 100


def test_a_retry_that_reads_no_better_is_dropped_and_the_block_stays_flagged():
    class NeverReads(FirstReadingFails):
        def read_blocks(self, pixels, boxes, language, processes=1):
            if language == "es":
                return [""] * len(boxes)
            return self.engine.read_blocks(pixels, boxes, language, processes)

    rendered, region = rendered_with_checker(NeverReads())
    assert "illegible" in region.flags
    assert (rendered.min(axis=2) > 240).sum() == 0  # the first drawing, without the retry's white outline
    assert (np.abs(rendered.astype(int) - 40).max(axis=2) < 10).sum() > 100  # in the source's grey


def test_text_over_a_background_darker_on_one_side_is_deepened_to_read_there_too():
    # A page darkening towards its gutter: grey lettering reads on the light part and not on the dark
    # left edge, though the block as a whole passes. Each quarter of the text is checked; the colour is
    # deepened until it stands out from the darkest part of what lies behind it.
    image = np.full((100, 500, 3), 230, np.uint8)
    image[:, :90] = 90
    region = TextRegion(
        polygon=[[10, 30], [490, 30], [490, 70], [10, 70]],
        text="Emergency exit",
        translation="Salida de emergencia",
        style=TextStyle(font_size=34, color=[60, 60, 60], alignment="left"),
    )
    rendered = render(TextRenderer(self_check=False, outline="never"), image, region)
    assert "illegible" not in region.flags
    assert rendered[:, :90].min() < 15 and rendered[:, 100:].min() < 15  # black, on both sides alike
