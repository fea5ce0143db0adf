"""ImageCaptioner: tiny BLIP and ViT-GPT2 models taught two captions by the test, and the offline OCR backend.

No real captioning weights are available offline. The tiny models are trained for a second to say "a red
house" for red pictures and "a blue sea" for blue ones, which is enough to check the executor's real path:
loading from a directory, preprocessing, one batched generate call, decoding, and each caption landing on
its own document.
"""

import os

import numpy as np
import pytest
from docarray import DocList
from jina import Executor
from tiny_models import build_tiny_blip, build_tiny_vit_gpt2, picture

from executors.image_captioner.executor import ImageCaptioner
from transmodal import fonts, synthetic
from transmodal.docs import MediaDoc
from transmodal.errors import UnsupportedLanguageError
from transmodal.media import encode_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny-blip"))
    build_tiny_blip(directory)
    return directory


@pytest.fixture(scope="module")
def vit_gpt2_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny-vit-gpt2"))
    build_tiny_vit_gpt2(directory)
    return directory


def caption(captioner: ImageCaptioner, docs: list[MediaDoc]) -> DocList[MediaDoc]:
    return captioner.caption(DocList[MediaDoc](docs), {})


def picture_doc(color: str, seed: int) -> MediaDoc:
    return MediaDoc(image=encode_image(picture(color, seed)), name=f"{color}-{seed}.png")


@pytest.mark.slow  # trains the tiny BLIP
def test_blip_describes_each_picture_of_a_batch_on_its_own_document(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir})
    result = caption(captioner, [picture_doc("blue", 100), picture_doc("red", 101), picture_doc("blue", 102)])
    assert [doc.text for doc in result] == ["a blue sea", "a red house", "a blue sea"]
    assert all(doc.error is None and doc.source_lang == "en" for doc in result)
    assert all(doc.trace == ["ImageCaptioner"] for doc in result)


@pytest.mark.slow  # trains the tiny BLIP
def test_all_pictures_of_a_request_go_to_one_generate_call(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir})
    model = captioner.captioner.model
    batch_sizes = []
    original_generate = model.generate
    model.generate = lambda pixel_values, **options: (
        batch_sizes.append(len(pixel_values)) or original_generate(pixel_values=pixel_values, **options)
    )
    result = caption(captioner, [picture_doc(color, seed) for seed, color in enumerate(["red", "blue"] * 3)])
    assert batch_sizes == [6]
    assert [doc.text for doc in result] == ["a red house", "a blue sea"] * 3


@pytest.mark.slow  # trains the tiny ViT-GPT2
def test_vit_gpt2_describes_pictures_in_the_language_it_is_configured_for(vit_gpt2_dir):
    captioner = ImageCaptioner(
        backend="transformers", backend_options={"model": vit_gpt2_dir, "language": "en-GB", "batch_size": 2}
    )
    result = caption(captioner, [picture_doc("red", 200), picture_doc("blue", 201), picture_doc("red", 202)])
    assert [doc.text for doc in result] == ["a red house", "a blue sea", "a red house"]
    assert all(doc.source_lang == "en" for doc in result)


@pytest.mark.slow  # trains the tiny BLIP
def test_bad_images_fail_with_the_reason_and_the_batch_is_still_described(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir}, max_pixels=100_000)
    truncated = encode_image(picture("red", 300))[:200]
    result = caption(
        captioner,
        [
            MediaDoc(image=b"not an image"),
            MediaDoc(image=truncated),
            MediaDoc(),
            MediaDoc(image=encode_image(np.zeros((400, 400, 3), np.uint8))),  # over max_pixels
            picture_doc("blue", 302),
        ],
    )
    assert "cannot decode image" in result[0].error and "truncated or corrupt" in result[1].error
    assert "empty image" in result[2].error and "image too large" in result[3].error
    assert all(doc.error_stage == "ImageCaptioner" and doc.text is None for doc in result[:4])
    assert result[4].error is None and result[4].text == "a blue sea"


# --- ocr backend: real and offline, but it only sees writing -------------------------------------------


def test_ocr_describes_a_sign_by_its_text_and_a_picture_without_writing_gets_an_error():
    sign = synthetic.make_sign(
        ["No smoking"],
        size=(480, 240),
        font_file=fonts.font_path(fonts.SANS_BOLD),
        text_color=(20, 20, 20),
        background_color=(240, 240, 240),
        seed=1,
    )
    # The YAML's default backend, as a Flow would start it.
    captioner = Executor.load_config(os.path.join(ROOT, "executors/image_captioner/config.yml"))
    sign_doc, plain_doc = captioner.caption(
        DocList[MediaDoc](
            [MediaDoc(image=encode_image(sign.image)), MediaDoc(image=encode_image(picture("blue", 400)))]
        ),
        {},
    )
    assert sign_doc.error is None and sign_doc.text == "No smoking" and sign_doc.source_lang == "en"
    assert "no text found in the image" in plain_doc.error and plain_doc.text is None


def test_ocr_refuses_a_language_without_ocr_data_at_start_up():
    with pytest.raises(UnsupportedLanguageError, match="Tesseract has no data for Korean"):
        ImageCaptioner(backend="ocr", backend_options={"language": "ko"})
