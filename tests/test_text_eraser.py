"""TextEraser: only the text's own pixels are erased and inpainted; colours measured on the way."""

import cv2
import numpy as np
import pytest
from docarray import DocList

from executors.text_eraser.executor import TextEraser, region_text_mask
from transmodal import fonts, synthetic
from transmodal.docs import MediaDoc, TextRegion, TextStyle
from transmodal.errors import ConfigurationError, ModelNotFoundError
from transmodal.media import decode_image, encode_image
from tiny_models import build_tiny_inpainting_pipeline, sign_and_background

SANS = fonts.font_path(fonts.SANS)


def region_of(sign) -> TextRegion:
    """The region a perfect detector would report for the sign: one block, its true line boxes."""
    boxes = sign.line_boxes
    x0, y0 = min(box[0] for box in boxes), min(box[1] for box in boxes)
    x1, y1 = max(box[2] for box in boxes), max(box[3] for box in boxes)
    line_height = float(np.median([box[3] - box[1] for box in boxes]))
    return TextRegion(polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]], lines=[list(box) for box in boxes],
                      text="\n".join(sign.lines), style=TextStyle(font_size=line_height))


def doc_of(sign) -> MediaDoc:
    return MediaDoc(image=encode_image(sign.image), regions=[region_of(sign)])


def line_area(sign) -> np.ndarray:
    inside = np.zeros(sign.image.shape[:2], bool)
    for x0, y0, x1, y1 in sign.line_boxes:
        inside[y0:y1, x0:x1] = True
    return inside


def psnr(first: np.ndarray, second: np.ndarray, where: np.ndarray) -> float:
    error = np.mean((first.astype(np.float64) - second.astype(np.float64))[where] ** 2)
    return 99.0 if error == 0 else 10 * np.log10(255.0 ** 2 / error)


@pytest.fixture(scope="module")
def eraser():
    return TextEraser()


@pytest.mark.parametrize("background, text_color, background_color, min_psnr", [
    ("flat", (20, 20, 20), (235, 230, 215), 35),  # dark on light
    ("flat", (250, 250, 250), (30, 40, 110), 35),  # light on dark
    ("gradient", (10, 20, 90), (210, 225, 240), 30),
    ("gradient", (255, 240, 120), (60, 40, 40), 30),
])
def test_text_is_erased_and_colours_measured(eraser, background, text_color, background_color, min_psnr):
    sign, clean = sign_and_background(["Open every day"], font_file=SANS, background=background,
                                      text_color=text_color, background_color=background_color, seed=3)
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
    mask = region_text_mask(sign.image, region_of(sign)).mask > 0
    inside = line_area(sign)
    ink = np.abs(sign.image.astype(int) - clean.astype(int)).max(axis=2) > 24
    assert mask[ink].mean() > 0.99  # every clearly visible text pixel
    assert mask[inside].mean() < 0.5  # but not the whole box


def test_tesseract_reads_the_sign_before_and_nothing_after(eraser):
    pytesseract = pytest.importorskip("pytesseract")
    signs = [
        synthetic.make_sign(["Emergency exit"], font_file=SANS, background="texture", seed=7, font_size=44),
        synthetic.make_sign(["Fresh bread"], font_file=fonts.font_path(fonts.SERIF_BOLD), background="photo",
                            seed=9, font_size=44),
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


def test_unknown_backend_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="opencv-telea"):
        TextEraser(backend="photoshop")


def test_diffusers_without_a_model_fails_fast_and_says_what_to_set(monkeypatch, tmp_path):
    pytest.importorskip("diffusers")
    monkeypatch.delenv("TRANSMODAL_INPAINT_MODEL", raising=False)
    with pytest.raises(ModelNotFoundError, match="TRANSMODAL_INPAINT_MODEL"):
        TextEraser(backend="diffusers")
    with pytest.raises(ModelNotFoundError, match="model") as error:
        TextEraser(backend="diffusers", backend_options={"model": str(tmp_path / "missing")})
    assert "TRANSMODAL_INPAINT_MODEL" in str(error.value)


def test_diffusers_backend_loads_a_saved_pipeline_and_inpaints_only_the_text(tmp_path):
    pytest.importorskip("diffusers")
    build_tiny_inpainting_pipeline(str(tmp_path))
    eraser = TextEraser(backend="diffusers",
                        backend_options={"model": str(tmp_path), "steps": 2, "device": "auto", "max_side": 64})
    sign = synthetic.make_sign(["Hi"], size=(64, 64), font_file=SANS, font_size=24, seed=0)
    doc = doc_of(sign)
    eraser.erase(DocList[MediaDoc]([doc]))
    assert doc.error is None
    erased = decode_image(doc.image)
    assert erased.shape == sign.image.shape
    mask = region_text_mask(sign.image, doc.regions[0]).mask > 0
    assert mask.any()
    assert np.array_equal(erased[~mask], sign.image[~mask])  # only the text's pixels were repainted
    assert not np.array_equal(erased[mask], sign.image[mask])
