"""TextEraser: only the text's own pixels are erased and inpainted; colours measured on the way."""

import cv2
import numpy as np
import pytest
from docarray import DocList
from scenes import busy, draw_lines, plate_in_frame, sign_with_arrow
from tiny_models import build_tiny_inpainting_pipeline, sign_and_background

from executors.text_eraser.executor import TextEraser, region_text_mask
from transmodal import fonts, synthetic
from transmodal.docs import MediaDoc, TextRegion, TextStyle
from transmodal.errors import ConfigurationError
from transmodal.media import decode_image, encode_image

SANS = fonts.font_path(fonts.SANS)


def region_of(sign) -> TextRegion:
    """The region a perfect detector would report for the sign: one block, its true line boxes."""
    boxes = sign.line_boxes
    x0, y0 = min(box[0] for box in boxes), min(box[1] for box in boxes)
    x1, y1 = max(box[2] for box in boxes), max(box[3] for box in boxes)
    line_height = float(np.median([box[3] - box[1] for box in boxes]))
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[list(box) for box in boxes],
        text="\n".join(sign.lines),
        style=TextStyle(font_size=line_height),
    )


def doc_of(sign) -> MediaDoc:
    return MediaDoc(image=encode_image(sign.image), regions=[region_of(sign)])


def line_area(sign) -> np.ndarray:
    inside = np.zeros(sign.image.shape[:2], bool)
    for x0, y0, x1, y1 in sign.line_boxes:
        inside[y0:y1, x0:x1] = True
    return inside


def psnr(first: np.ndarray, second: np.ndarray, where: np.ndarray) -> float:
    error = np.mean((first.astype(np.float64) - second.astype(np.float64))[where] ** 2)
    return 99.0 if error == 0 else 10 * np.log10(255.0**2 / error)


@pytest.fixture(scope="module")
def eraser():
    return TextEraser()


@pytest.mark.parametrize(
    "background, text_color, background_color, min_psnr",
    [
        ("flat", (20, 20, 20), (235, 230, 215), 35),  # dark on light
        ("flat", (250, 250, 250), (30, 40, 110), 35),  # light on dark
        ("gradient", (10, 20, 90), (210, 225, 240), 30),
        ("gradient", (255, 240, 120), (60, 40, 40), 30),
    ],
)
def test_text_is_erased_and_colours_measured(eraser, background, text_color, background_color, min_psnr):
    sign, clean = sign_and_background(
        ["Open every day"],
        font_file=SANS,
        background=background,
        text_color=text_color,
        background_color=background_color,
        seed=3,
    )
    doc = doc_of(sign)
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None
    erased = decode_image(doc.image)
    inside = line_area(sign)
    assert psnr(sign.image, clean, inside) < 20  # the text really was there
    assert psnr(erased, clean, inside) > min_psnr

    # Pixels well away from the text are untouched, bit for bit.
    near = cv2.dilate(inside.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
    assert np.array_equal(erased[~near], sign.image[~near])

    style = doc.regions[0].style
    assert np.abs(np.subtract(style.color, text_color)).max() <= 12
    expected_background = np.median(clean[near & ~inside], axis=0)
    assert np.abs(np.subtract(style.background_color, expected_background)).max() <= 25


@pytest.mark.parametrize("background", ["texture", "photo"])
def test_textured_backgrounds_are_erased_reasonably(eraser, background):
    sign, clean = sign_and_background(["Fresh bread", "and coffee"], font_file=SANS, background=background, seed=5)
    doc = doc_of(sign)
    eraser.erase(DocList[MediaDoc]([doc]))
    erased = decode_image(doc.image)
    inside = line_area(sign)
    before, after = psnr(sign.image, clean, inside), psnr(erased, clean, inside)
    assert after > 24 and after > before + 10
    assert np.abs(np.subtract(doc.regions[0].style.color, sign.text_color)).max() <= 12


def test_mask_is_the_text_pixels_not_the_box():
    sign, clean = sign_and_background(["Welcome to the museum"], font_file=SANS, background="flat", seed=1)
    mask = region_text_mask(sign.image, region_of(sign)).whole_mask(sign.image.shape) > 0
    inside = line_area(sign)
    ink = np.abs(sign.image.astype(int) - clean.astype(int)).max(axis=2) > 24
    assert mask[ink].mean() > 0.99  # every clearly visible text pixel
    assert mask[inside].mean() < 0.5  # but not the whole box


def test_tesseract_reads_the_sign_before_and_nothing_after(eraser):
    pytesseract = pytest.importorskip("pytesseract")
    signs = [
        synthetic.make_sign(["Emergency exit"], font_file=SANS, background="texture", seed=7, font_size=44),
        synthetic.make_sign(
            ["Fresh bread"], font_file=fonts.font_path(fonts.SERIF_BOLD), background="photo", seed=9, font_size=44
        ),
    ]
    docs = DocList[MediaDoc]([doc_of(sign) for sign in signs])
    eraser.erase(docs)
    for sign, doc in zip(signs, docs):
        words = {word.lower() for word in sign.text.split()}
        before = set(pytesseract.image_to_string(sign.image, lang="eng").lower().split())
        after = set(pytesseract.image_to_string(decode_image(doc.image), lang="eng").lower().split())
        assert words & before, f"OCR could not read the original {sign.text!r}: {before}"
        assert not words & after, f"still readable after erasing: {words & after}"


def test_documents_without_regions_pass_through(eraser):
    image = encode_image(np.full((40, 60, 3), 200, np.uint8))
    doc = MediaDoc(image=image)
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None and doc.image == image


def test_the_erased_image_is_handed_on_uncompressed_when_the_flow_asks():
    sign, _ = sign_and_background(["Open every day"], font_file=SANS, background="flat", seed=3)
    as_png, as_bmp = doc_of(sign), doc_of(sign)
    TextEraser().erase(DocList[MediaDoc]([as_png]))
    TextEraser(image_format="bmp").erase(DocList[MediaDoc]([as_bmp]))
    assert bytes(as_png.image).startswith(b"\x89PNG") and bytes(as_bmp.image).startswith(b"BM")
    assert np.array_equal(decode_image(as_bmp.image), decode_image(as_png.image))
    with pytest.raises(ConfigurationError, match="image_format"):
        TextEraser(image_format="gif")


def test_corrupt_image_fails_only_its_document(eraser):
    sign = synthetic.make_sign(["Hot soup"], font_file=SANS, seed=2)
    bad = MediaDoc(image=b"\x89PNG\r\n\x1a\n not really a png", regions=[region_of(sign)])
    good = doc_of(sign)
    eraser.erase(DocList[MediaDoc]([bad, good]))
    assert bad.error and "decode" in bad.error and bad.error_stage == "TextEraser"
    assert good.error is None
    assert not np.array_equal(decode_image(good.image), sign.image)


def test_navier_stokes_backend_erases_too():
    sign, clean = sign_and_background(["Kitchen"], font_file=SANS, background="flat", seed=4)
    doc = doc_of(sign)
    TextEraser(backend="opencv-ns").erase(DocList[MediaDoc]([doc]))
    assert psnr(decode_image(doc.image), clean, line_area(sign)) > 35


def test_diffusers_backend_loads_a_saved_pipeline_and_inpaints_only_the_text(tmp_path):
    pytest.importorskip("diffusers")
    build_tiny_inpainting_pipeline(str(tmp_path))
    eraser = TextEraser(
        backend="diffusers", backend_options={"model": str(tmp_path), "steps": 2, "device": "auto", "max_side": 64}
    )
    sign = synthetic.make_sign(["Hi"], size=(64, 64), font_file=SANS, font_size=24, seed=0)
    doc = doc_of(sign)
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None
    erased = decode_image(doc.image)
    assert erased.shape == sign.image.shape
    mask = region_text_mask(sign.image, doc.regions[0]).whole_mask(sign.image.shape) > 0
    assert mask.any()
    assert np.array_equal(erased[~mask], sign.image[~mask])  # only the text's pixels were repainted
    assert not np.array_equal(erased[mask], sign.image[mask])


# Containers, panels, polarity and untouched regions ------------------------------------------------------
# Scenes drawn here: a white balloon with a black anti-aliased outline, a caption box, a sign panel and a
# fascia, on a busy photo-like background, lettered with DejaVu/Noto.

BOLD = fonts.font_path(fonts.SANS_BOLD)


def region_for(boxes, container=(), flags=(), text="") -> TextRegion:
    x0, y0 = min(box[0] for box in boxes), min(box[1] for box in boxes)
    x1, y1 = max(box[2] for box in boxes), max(box[3] for box in boxes)
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[list(box) for box in boxes],
        text=text,
        style=TextStyle(font_size=float(np.median([b[3] - b[1] for b in boxes]))),
        container=[list(point) for point in container],
        flags=list(flags),
    )


def erase(image: np.ndarray, regions, eraser) -> np.ndarray:
    doc = MediaDoc(image=encode_image(image), regions=regions)
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None, doc.error
    return decode_image(doc.image)


def ellipse_polygon(center, axes) -> list[list[float]]:
    return [[float(x), float(y)] for x, y in cv2.ellipse2Poly(center, axes, 0, 0, 360, 10)]


def balloon(seed: int = 0, fill=(255, 255, 255), ink=(0, 0, 0), outline=(0, 0, 0)):
    """A balloon scene: (image, line boxes, the balloon's inner polygon, the outline's pixels, its inside)."""
    image = busy(400, 560, seed)
    center, axes = (280, 200), (170, 110)
    cv2.ellipse(image, center, axes, 0, 0, 360, fill, -1, cv2.LINE_AA)
    cv2.ellipse(image, center, axes, 0, 0, 360, outline, 3, cv2.LINE_AA)
    lines = draw_lines(image, ["WHERE DID YOU", "PUT THE KEYS?", "I NEED THEM."], center, color=ink)
    ring = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(ring, center, axes, 0, 0, 360, 1, 5)  # the outline with its anti-aliased edges
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(inside, center, (axes[0] - 5, axes[1] - 5), 0, 0, 360, 1, -1)  # clear of its anti-aliasing
    return image, lines, ellipse_polygon(center, (axes[0] - 2, axes[1] - 2)), ring > 0, inside > 0


def luminance(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(int)


def test_balloon_text_is_erased_with_its_outline_intact(eraser):
    image, lines, polygon, outline, inside = balloon()
    erased = erase(image, [region_for(lines, polygon)], eraser)
    assert luminance(image)[inside].min() < 60  # there was dark text
    assert np.array_equal(erased[outline], image[outline])  # every outline pixel as it was
    assert luminance(erased)[inside].min() >= 250  # no dark text pixel left inside: all balloon white
    untouched = ~(inside | outline)
    assert np.array_equal(erased[untouched], image[untouched])  # nothing outside the balloon changed


def test_balloon_from_a_jpeg_keeps_its_outline_and_loses_its_text(eraser):
    image, lines, polygon, outline, inside = balloon(seed=1)
    _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    jpeg = decode_image(data.tobytes())
    erased = erase(jpeg, [region_for(lines, polygon)], eraser)
    assert np.array_equal(erased[outline], jpeg[outline])
    assert luminance(erased)[inside].min() >= 225  # no trace of the letters, JPEG halos included
    assert luminance(jpeg)[inside].min() < 60


def test_balloon_found_by_the_detector_helper_is_erased_cleanly(eraser):
    from executors.text_detector.containers import find_container

    image, lines, _, outline, inside = balloon(seed=2)
    container = find_container(image, region_for(lines).box, lines)
    assert container is not None and container.kind == "balloon"
    erased = erase(image, [region_for(lines, container.polygon)], eraser)
    assert np.array_equal(erased[outline], image[outline])
    assert luminance(erased)[inside].min() >= 250


def test_light_text_in_a_dark_caption_box_is_erased_and_its_border_kept(eraser):
    image = busy(300, 520, 3)
    cv2.rectangle(image, (40, 50), (480, 230), (20, 30, 80), -1)
    cv2.rectangle(image, (40, 50), (480, 230), (230, 200, 60), 2)  # a thin gold border
    lines = draw_lines(image, ["MEANWHILE, FAR", "FROM HOME..."], (260, 140), color=(250, 250, 250))
    box = [[43, 53], [477, 53], [477, 227], [43, 227]]
    region = region_for(lines, box)
    erased = erase(image, [region], eraser)
    border = np.zeros(image.shape[:2], np.uint8)
    cv2.rectangle(border, (40, 50), (480, 230), 1, 2)
    assert np.array_equal(erased[border > 0], image[border > 0])
    assert luminance(image)[60:220, 50:470].max() > 200
    assert luminance(erased)[60:220, 50:470].max() < 60  # no light pixel left in the box
    assert np.abs(np.subtract(region.style.background_color, (20, 30, 80))).max() <= 3
    assert np.abs(np.subtract(region.style.color, (250, 250, 250))).max() <= 12


def test_coloured_text_on_a_coloured_caption_is_erased(eraser):
    image = busy(260, 520, 4)
    cv2.rectangle(image, (30, 40), (490, 220), (250, 235, 120), -1)
    cv2.rectangle(image, (30, 40), (490, 220), (0, 0, 0), 2)
    lines = draw_lines(image, ["THE NEXT DAY"], (260, 130), size=34, color=(200, 30, 30), font_file=BOLD)
    erased = erase(image, [region_for(lines, [[33, 43], [487, 43], [487, 217], [33, 217]])], eraser)
    inner = erased[50:210, 40:480].astype(int)
    assert np.abs(inner - (250, 235, 120)).max() <= 2  # all caption yellow, no red left


def fascia(seed: int = 5):
    """Gold letters on a navy fascia that ends just past them (so a ring around the line lies mostly on the
    street), on a busy street: (image, lines, fascia box)."""
    image = busy(360, 640, seed)
    [(lx0, ly0, lx1, ly1)] = draw_lines(image.copy(), ["GRAND HOTEL"], (320, 177), size=44, font_file=BOLD)
    x0, y0, x1, y1 = lx0 - 30, ly0 - 6, lx1 + 30, ly1 + 6
    cv2.rectangle(image, (x0, y0), (x1, y1), (25, 35, 90), -1)
    lines = draw_lines(image, ["GRAND HOTEL"], (320, 177), size=44, color=(220, 180, 60), font_file=BOLD)
    return image, lines, (x0, y0, x1, y1)


def test_gold_letters_on_a_navy_fascia_are_erased_and_the_fascia_kept(eraser):
    image, lines, (x0, y0, x1, y1) = fascia()
    region = region_for(lines)  # no container: the detector did not find one
    erased = erase(image, [region], eraser)
    band = erased[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int)
    gold = np.abs(image[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int) - (220, 180, 60)).max(axis=2) < 40
    assert gold.sum() > 500
    assert (np.abs(band - (220, 180, 60)).max(axis=2) < 60).sum() == 0  # no gold left
    assert np.abs(np.median(band.reshape(-1, 3), axis=0) - (25, 35, 90)).max() <= 3
    assert (np.abs(band - (25, 35, 90)).max(axis=2) <= 20).mean() > 0.97  # navy everywhere
    assert np.abs(np.subtract(region.style.color, (220, 180, 60))).max() <= 15


def panel(seed: int = 6):
    """Dark words on a white sign panel (no outline) on a busy street: (image, lines, panel box)."""
    image = busy(400, 640, seed)
    x0, y0, x1, y1 = 160, 110, 480, 290
    cv2.rectangle(image, (x0, y0), (x1, y1), (245, 245, 245), -1)
    lines = draw_lines(image, ["PLATFORM", "4 AND 5"], (320, 200), size=40, color=(20, 20, 20), font_file=BOLD)
    return image, lines, (x0, y0, x1, y1)


@pytest.mark.parametrize("boxes", ["lines", "panel"])
def test_a_sign_panel_is_kept_when_its_text_is_erased(eraser, boxes):
    image, lines, (x0, y0, x1, y1) = panel()
    # "panel": the detector's box took in the whole panel, as a loose detector box does.
    region = region_for(lines) if boxes == "lines" else region_for([(x0, y0, x1, y1)])
    erased = erase(image, [region], eraser)
    plate = erased[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]
    assert luminance(image)[y0:y1, x0:x1].min() < 60
    assert luminance(plate).min() > 200  # the words are gone...
    assert (luminance(plate) >= 235).mean() > 0.97  # ...and the panel is still there, white
    outside = np.ones(image.shape[:2], bool)
    outside[y0 - 12 : y1 + 12, x0 - 12 : x1 + 12] = False
    assert np.array_equal(erased[outside], image[outside])  # the street around it untouched


def test_a_sign_panel_with_its_container_is_painted_not_inpainted(eraser):
    from executors.text_detector.containers import find_container

    image, lines, (x0, y0, x1, y1) = panel(seed=7)
    container = find_container(image, region_for(lines).box, lines)
    assert container is not None and container.kind == "sign"
    erased = erase(image, [region_for(lines, container.polygon)], eraser)
    assert np.abs(erased[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int) - 245).max() <= 1
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(erased[outside], image[outside])


def test_an_untouched_region_stays_pixel_identical(eraser):
    image = np.full((240, 520, 3), (235, 230, 215), np.uint8)
    words = draw_lines(image, ["Open every day"], (260, 70), size=34)
    code = draw_lines(image, ["Route 66"], (260, 160), size=34)
    keep = region_for(code, flags=["untouched"], text="Route 66")
    erased = erase(image, [region_for(words), keep], eraser)
    x0, y0, x1, y1 = code[0]
    area = np.zeros(image.shape[:2], bool)
    area[y0 - 10 : y1 + 10, x0 - 10 : x1 + 10] = True
    assert np.array_equal(erased[area], image[area])
    wx0, wy0, wx1, wy1 = words[0]
    assert luminance(erased)[wy0:wy1, wx0:wx1].min() > 200  # the other region was erased
    assert keep.style.color is not None  # its colours are still measured for the renderer


def test_an_untouched_line_in_a_balloon_stays_pixel_identical(eraser):
    image, lines, polygon, outline, inside = balloon(seed=8)
    # The middle line is a code that needs no translation; the other two share its balloon.
    translated = region_for([lines[0], lines[2]], polygon)
    untouched = region_for([lines[1]], polygon, flags=["untouched"])
    erased = erase(image, [translated, untouched], eraser)
    x0, y0, x1, y1 = lines[1]
    assert np.array_equal(erased[y0 - 4 : y1 + 4, x0 - 4 : x1 + 4], image[y0 - 4 : y1 + 4, x0 - 4 : x1 + 4])
    for x0, y0, x1, y1 in (lines[0], lines[2]):
        assert luminance(erased)[y0:y1, x0:x1].min() >= 250
    assert np.array_equal(erased[outline], image[outline])


def test_an_untouched_line_between_erased_ones_with_overlapping_boxes(eraser):
    # A real road sign (opencv-doc's scenetext02): white lines on a dark panel, the detector's line boxes
    # taller than the letters and overlapping; the name in the middle needs no translation. Restoring its
    # whole area put back the lower half of the line above and the top of the line below.
    image = np.full((300, 560, 3), (20, 45, 30), np.uint8)
    lines = draw_lines(
        image, ["Sports Centre", "Wivenhoe Park", "Car Parks"], (280, 150), size=40, color=(245, 245, 245)
    )
    grown = [(x0 - 4, y0 - 14, x1 + 4, y1 + 14) for x0, y0, x1, y1 in lines]  # overlapping boxes
    panel = [[10, 10], [550, 10], [550, 290], [10, 290]]
    regions = [
        region_for([grown[0]], panel),
        region_for([grown[1]], panel, flags=["untouched"]),
        region_for([grown[2]], panel),
    ]
    erased = erase(image, regions, eraser)
    for x0, y0, x1, y1 in (lines[0], lines[2]):
        assert luminance(erased)[y0:y1, x0:x1].max() < 120, "a translated line left partly unerased"
    x0, y0, x1, y1 = lines[1]
    assert np.array_equal(erased[y0:y1, x0:x1], image[y0:y1, x0:x1])


def test_letters_filling_their_panel_are_erased_up_to_its_frame(eraser):
    """A plate its bold letters fill (the detector's container is then the plate's convex hull, and the
    region says the text fills it): every letter goes, though they touch the plate's edge, and the frame
    stays as it was. Taken for the border, the letters at the ends were left standing."""
    from executors.text_detector.containers import find_panel_filled_by_text

    image, plate, line_box, frame = plate_in_frame()
    container = find_panel_filled_by_text(image, line_box, [line_box])
    assert container is not None
    x0, y0, x1, y1 = plate

    def red_left(fills: bool) -> int:
        region = region_for([line_box], container.polygon)
        region.fills_container = fills
        erased = erase(image, [region], eraser)
        assert np.array_equal(erased[frame], image[frame])
        red = erased[..., 0].astype(int) - erased[..., 1].astype(int) > 60
        return int(red[y0:y1, x0:x1].sum())

    assert red_left(fills=True) == 0
    assert red_left(fills=False) > 100


def test_an_arrow_beside_a_line_is_no_letter_of_it(eraser):
    """A road sign's arrow right after its line of text, the line's box taking in the arrow's tail: the
    letters go, the arrow stays (it mostly lies outside the line, as no letter does)."""
    image, panel, line_box, arrow = sign_with_arrow()
    erased = erase(image, [region_for([line_box], panel)], eraser)
    x0, y0, x1, y1 = line_box
    letters = np.zeros(arrow.shape, bool)
    letters[y0:y1, x0:x1] = True
    letters &= ~arrow
    assert luminance(erased)[letters].max() < 120  # every letter erased
    assert np.array_equal(erased[arrow], image[arrow])


def test_a_logo_disc_holding_a_word_keeps_its_colour_when_the_word_is_erased(eraser):
    """A shop sign whose first word sits on a coloured disc (opencv-doc's scenetext03: "the" on a teal
    logo, then "copy centre"), the line's box taking in most of the disc: the words go, the disc stays
    teal (it is far thicker than any stroke: artwork, not a letter)."""
    teal = (90, 200, 170)
    image = np.full((160, 560, 3), 245, np.uint8)
    cv2.circle(image, (70, 80), 46, teal, -1)
    words = draw_lines(image, ["copy centre"], (320, 80), size=56, color=(20, 20, 20))
    the = draw_lines(image, ["the"], (70, 88), size=30, color=(20, 20, 20))
    disc = np.zeros(image.shape[:2], np.uint8)
    cv2.circle(disc, (70, 80), 40, 1, -1)  # inside the disc, away from its anti-aliased edge
    line = (28, words[0][1] - 6, words[0][2], words[0][3] + 6)  # one line: "the copy centre"
    erased = erase(image, [region_for([line])], eraser)
    assert luminance(image)[the[0][1] : the[0][3], the[0][0] : the[0][2]].min() < 60
    assert luminance(erased)[line[1] : line[3], line[0] : line[2]].min() > 100  # every letter gone
    teal_still = np.abs(erased.astype(int) - teal).max(axis=2) <= 25
    assert teal_still[disc > 0].mean() > 0.93  # the disc, where "the" was too, is teal (was a third)


def test_a_document_with_only_untouched_regions_comes_back_as_it_was(eraser):
    sign = synthetic.make_sign(["A12"], font_file=SANS, seed=3)
    region = region_of(sign)
    region.flags = ["untouched"]
    doc = MediaDoc(image=encode_image(sign.image), regions=[region])
    before = doc.image
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None and doc.image == before


def test_real_comic_page_loses_its_lettering_and_keeps_every_outline(eraser):
    """Page 1 of the real comic (fetched by `make eval-data`; skips without it): every text area's
    balloon or caption found, its lettering erased, and not one pixel of any outline changed."""
    from test_containers import comic_areas, lettering_box

    from executors.text_detector.containers import find_container, polygon_mask

    pixels, areas = comic_areas("01.jpg")
    regions = []
    for _, polygon in areas:
        box = lettering_box(pixels, polygon)
        container = find_container(pixels, box) if box else None
        if container is not None:
            region = region_for([box], container.polygon)
            region.style.font_size = 20.0  # this comic's lettering: 20-pixel lines
            regions.append(region)
    assert len(regions) >= 10
    erased = erase(pixels, regions, eraser)
    gray, gray_after = luminance(pixels), luminance(erased)
    # The outlines: 4 pixels round each container, less what lies in another one (joined balloons).
    insides = np.zeros(pixels.shape[:2], bool)
    for region in regions:
        insides |= polygon_mask(region.container, pixels.shape)
    outlines = (cv2.dilate(insides.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~insides
    border = int(np.any(erased[outlines] != pixels[outlines], axis=1).sum())
    ink = ink_after = 0
    for region in regions:
        x0, y0, x1, y1 = (int(v) for v in region.lines[0])
        lettering = polygon_mask(region.container, pixels.shape, margin=3)
        lettering[:y0] = lettering[y1:] = False
        lettering[:, :x0] = lettering[:, x1:] = False
        ink += int((gray[lettering] < 100).sum())
        ink_after += int((gray_after[lettering] < 100).sum())
    assert border == 0
    assert ink > 10000 and ink_after < 0.03 * ink


def test_blurred_photographed_letters_leave_no_ghost(eraser):
    """Faint dark-grey capitals on light grey, out of focus and JPEG-compressed, as on a photographed
    projector's label: the letters fade out over a few pixels, and inpainting from that halo brings each
    letter back as its ghost unless the mask takes the halo in."""
    image = np.full((80, 420, 3), 120, np.uint8)
    lines = draw_lines(image, ["MULTIMEDIA PROJECTOR"], (210, 40), size=22, color=(70, 69, 73), font_file=SANS)
    image = cv2.GaussianBlur(image, (0, 0), 1.2)
    _, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    image = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    erased = erase(image, [region_for(lines)], eraser)
    x0, y0, x1, y1 = (int(v) for v in lines[0])
    assert luminance(image)[y0:y1, x0:x1].min() < 95  # the letters were there
    assert luminance(erased)[y0:y1, x0:x1].min() >= 112  # no letter's ghost darker than the JPEG noise


def test_letters_where_the_containers_outline_notches_into_the_line_are_erased(eraser):
    """A caption box whose found outline has a notch up into one letter (the fill's growth stopped under
    "P.E." on a real comic page) and passes close by the last letters: those letters touch the outline's
    edge, and were left standing as if they were the border."""
    image = np.full((120, 420, 3), 40, np.uint8)
    cv2.rectangle(image, (10, 10), (409, 109), (0, 0, 0), -1)
    cv2.rectangle(image, (14, 14), (405, 105), (250, 240, 150), -1)  # a yellow caption, black border
    lines = draw_lines(image, ["TO P.E. EVERY DAY"], (210, 60), size=30, color=(20, 20, 20), font_file=SANS)
    x0, y0, x1, y1 = lines[0]
    notch_x = x0 + (x1 - x0) // 3
    polygon = [[15, 15], [404, 15], [404, 104], [notch_x + 8, 104], [notch_x + 8, y1 - 4], [notch_x - 8, y1 - 4]]
    polygon += [[notch_x - 8, 104], [15, 104]]
    polygon[1][0] = polygon[2][0] = x1 + 1  # and the outline passes right by the last letter
    erased = erase(image, [region_for(lines, polygon)], eraser)
    gray = luminance(erased)
    assert luminance(image)[y0:y1, x0:x1].min() < 60
    assert gray[y0:y1, x0:x1].min() > 150  # every letter gone, the notched one and the last one too
    border = np.zeros(image.shape[:2], bool)
    border[10:110, 10:410] = True
    border[14:106, 14:406] = False
    assert np.array_equal(erased[border], image[border])
