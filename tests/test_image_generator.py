"""ImageGenerator on a tiny random Stable Diffusion pipeline (conftest: tiny_stable_diffusion_dir).

No real text-to-image weights are available offline, so the pictures mean nothing; what is checked is the
executor's real code path: loading from a directory, one pipeline call per batch, seeds, sizes, PNGs,
settings and their overrides, and per-document errors.
"""

import io
import os

import numpy as np
import pytest
from docarray import DocList
from jina import Executor
from PIL import Image

from executors.image_generator.executor import ImageGenerator
from transmodal.docs import MediaDoc
from transmodal.errors import ConfigurationError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def generator(tiny_stable_diffusion_dir):
    # The tiny model's native size is 64x64 (sample size 32, autoencoder factor 2).
    return ImageGenerator(
        backend="diffusers", backend_options={"model": tiny_stable_diffusion_dir}, steps=2, seed=7, max_images=4
    )


def generate(generator: ImageGenerator, docs: list[MediaDoc], **parameters) -> DocList[MediaDoc]:
    return generator.generate(DocList[MediaDoc](docs), parameters)


def pixels(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def test_every_image_comes_back_as_a_png_with_the_seed_that_made_it(generator):
    result = generate(generator, [MediaDoc(text="a red cat"), MediaDoc(text="sunset over the sea")], num_images=2)
    for doc in result:
        assert doc.error is None
        assert [image.seed for image in doc.images] == [7, 8]
        assert [pixels(image.image).shape for image in doc.images] == [(64, 64, 3)] * 2
        assert doc.image == doc.images[0].image  # a Flow's output image is the first generation
        assert doc.trace == ["ImageGenerator"]
    assert np.abs(pixels(result[0].image) - pixels(result[1].image)).max() > 10  # different prompts


def test_same_seed_gives_the_same_pixels_and_another_seed_other_pixels(generator):
    (first,) = generate(generator, [MediaDoc(text="a red cat")], seed=11)
    (again,) = generate(generator, [MediaDoc(text="a red cat")], seed=11)
    (other,) = generate(generator, [MediaDoc(text="a red cat")], seed=12)
    assert np.array_equal(pixels(first.image), pixels(again.image))
    assert np.abs(pixels(first.image) - pixels(other.image)).mean() > 1


def test_the_recorded_seed_of_a_second_image_reproduces_it(generator):
    (pair,) = generate(generator, [MediaDoc(text="a red cat")], seed=20, num_images=2)
    (single,) = generate(generator, [MediaDoc(text="a red cat")], seed=pair.images[1].seed)
    # Batches of different sizes round differently by a grey level at most.
    assert np.abs(pixels(pair.images[1].image) - pixels(single.image)).max() <= 2


def test_without_a_seed_each_document_draws_one_and_records_it(tiny_stable_diffusion_dir):
    generator = ImageGenerator(backend="diffusers", backend_options={"model": tiny_stable_diffusion_dir}, steps=1)
    result = generate(generator, [MediaDoc(text="a red cat"), MediaDoc(text="a red cat")])
    seeds = [doc.images[0].seed for doc in result]
    assert all(isinstance(seed, int) for seed in seeds) and seeds[0] != seeds[1]
    (remade,) = generate(generator, [MediaDoc(text="a red cat")], seed=seeds[1])
    assert np.abs(pixels(remade.image) - pixels(result[1].image)).max() <= 2


def test_the_prompt_is_the_translation_when_there_is_one(generator):
    translated, plain = generate(
        generator, [MediaDoc(text="un gato rojo", translation="a red cat"), MediaDoc(text="a red cat")]
    )
    assert np.abs(pixels(translated.image) - pixels(plain.image)).max() <= 2


def test_request_parameters_override_the_defaults_for_that_request_only(generator):
    (overridden,) = generate(
        generator,
        [MediaDoc(text="a red cat")],
        num_images=3.0,
        width=96,
        height=64,
        guidance_scale=1.0,
        negative_prompt="blurry",
        source_lang="en",
    )
    assert len(overridden.images) == 3
    assert pixels(overridden.image).shape == (64, 96, 3)
    (default,) = generate(generator, [MediaDoc(text="a red cat")])
    assert len(default.images) == 1 and pixels(default.image).shape == (64, 64, 3)


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"width": 100}, "width must be a multiple of 8, not 100"),
        ({"height": 4096}, "height must be from 64 to 2048"),
        ({"num_images": 5}, "num_images must be from 1 to 4"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"seed": -1}, "seed must be from 0 to"),
        ({"guidance_scale": "high"}, "guidance_scale must be a number"),
        ({"negative_prompt": 3}, "negative_prompt must be text"),
    ],
)
def test_bad_parameters_fail_every_document_of_the_request_with_the_reason(generator, parameters, message):
    result = generate(generator, [MediaDoc(text="a red cat"), MediaDoc(text="sunset")], **parameters)
    for doc in result:
        assert message in doc.error and doc.error_stage == "ImageGenerator"
        assert doc.image is None and len(doc.images) == 0


def test_an_empty_prompt_fails_with_the_reason(generator):
    result = generate(generator, [MediaDoc(text="  "), MediaDoc(), MediaDoc(text="a red cat")])
    assert "empty prompt" in result[0].error and "empty prompt" in result[1].error
    assert result[2].error is None and len(result[2].images) == 1


def test_documents_of_a_request_share_one_pipeline_call_per_batch(tiny_stable_diffusion_dir):
    generator = ImageGenerator(
        backend="diffusers", backend_options={"model": tiny_stable_diffusion_dir}, steps=1, batch_size=2
    )
    calls = []
    pipeline = generator.generator.pipeline
    generator.generator.pipeline = lambda **options: calls.append(options["prompt"]) or pipeline(**options)
    result = generate(generator, [MediaDoc(text=text) for text in ("a", "b", "c")])
    assert calls == [["a", "b"], ["c"]]
    assert all(doc.error is None for doc in result)


def test_a_named_scheduler_replaces_the_saved_one(tiny_stable_diffusion_dir):
    generator = ImageGenerator(
        backend="diffusers", backend_options={"model": tiny_stable_diffusion_dir, "scheduler": "euler"}, steps=2
    )
    assert type(generator.generator.pipeline.scheduler).__name__ == "EulerDiscreteScheduler"
    (result,) = generate(generator, [MediaDoc(text="a red cat")])
    assert result.error is None and pixels(result.image).shape == (64, 64, 3)


def test_bad_with_options_fail_at_start_up():
    with pytest.raises(ConfigurationError, match="width must be a multiple of 8"):
        ImageGenerator(width=100)
    with pytest.raises(ConfigurationError, match="unknown scheduler 'fast'; choose one of: ddim"):
        ImageGenerator(backend="diffusers", backend_options={"model": "unused", "scheduler": "fast"})


def test_config_yml_starts_the_executor_with_the_model_from_the_environment(tiny_stable_diffusion_dir, monkeypatch):
    monkeypatch.setenv("TRANSMODAL_IMAGE_MODEL", tiny_stable_diffusion_dir)
    executor = Executor.load_config(
        os.path.join(ROOT, "executors/image_generator/config.yml"), uses_with={"backend": "diffusers", "steps": 1}
    )
    (result,) = executor.generate(DocList[MediaDoc]([MediaDoc(text="a red cat")]), {"seed": 3})
    assert result.error is None and result.images[0].seed == 3 and pixels(result.image).shape == (64, 64, 3)
