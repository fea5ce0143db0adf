import math
import secrets
from collections.abc import Sequence
from typing import Any, Literal, Optional, overload

from docarray import DocList
from docarray.typing import ID
from jina import Executor, requests

from executors.image_generator.backends import GENERATORS, GenerationSettings
from transmodal.audio import audio_of
from transmodal.docs import GeneratedImage, MediaDoc
from transmodal.errors import BadInputError, ConfigurationError, TransmodalError
from transmodal.processing import fail_invalid_request, for_batch, for_each_doc, live_docs, mark_failed, traced
from transmodal.scene_world import LOW_CONFIDENCE, SCENE_WORLD

MAX_SEED = 2**32 - 1  # request parameters travel as JSON numbers (doubles): larger seeds would lose digits


class ImageGenerator(Executor):
    """Generates images from each document's prompt: its `translation` when it has one, else its `text`;
    or, with a backend that reads audio (`scenes-from-speech`), from the document's speech itself.

    Every image goes into `images` (PNG bytes with the seed that reproduces it: image i of a document has
    seed + i) and the first also into `image`, so a Flow's output image is the generated one. Settings
    come from `with:` and can be overridden per request through `parameters`; an invalid value fails the
    request's documents (each with the error), not the executor.
    """

    def __init__(
        self,
        backend: str = "diffusers",
        backend_options: dict | None = None,
        num_images: int = 1,
        steps: int = 30,
        guidance_scale: float = 7.5,
        seed: int | None = None,
        width: int | None = None,
        height: int | None = None,
        negative_prompt: str | None = None,
        batch_size: int = 4,
        max_images: int = 4,
        max_steps: int = 150,
        max_size: int = 2048,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.batch_size = _whole_number(batch_size, "batch_size", 1, 1024, ConfigurationError)
        self.max_images = max_images
        self.max_steps = max_steps
        self.max_size = max_size
        self.defaults = GenerationSettings(
            num_images=num_images,
            seed=seed,
            steps=steps,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
            negative_prompt=negative_prompt,
        )
        self._checked_settings({}, ConfigurationError)  # a bad `with:` value fails at start-up, before loading
        self.generator = GENERATORS.create(backend, **(backend_options or {}))

    @requests
    def generate(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        try:
            settings = self._checked_settings(parameters or {}, BadInputError)
        except TransmodalError as error:
            for doc in live_docs(docs):
                mark_failed(doc, self.metas.name, error)
            return traced(docs, self)

        # Each document's prompt, read once (a bad one fails its document only): its text, or its decoded
        # audio for a backend that reads audio.
        read = audio_of if getattr(self.generator, "reads", "text") == "audio" else _prompt_of
        prompts: dict[ID | None, Any] = {}

        def read_prompt(doc: MediaDoc) -> None:
            prompts[doc.id] = read(doc)

        for_each_doc(docs, self.metas.name, read_prompt)

        # One pipeline call per chunk; a failed chunk is retried document by document, the others kept.
        live = live_docs(docs)
        for start in range(0, len(live), self.batch_size):
            for_batch(
                live[start : start + self.batch_size],
                self.metas.name,
                lambda batch: self._generate(batch, [prompts[doc.id] for doc in batch], settings),
            )
        return traced(docs, self)

    def _generate(self, docs: Sequence[MediaDoc], prompts: list, settings: GenerationSettings) -> None:
        # Without a seed each document draws its own, recorded with its images so they can be made again.
        base_seeds = [settings.seed if settings.seed is not None else secrets.randbelow(MAX_SEED + 1) for _ in docs]
        seeds = [[base + index for index in range(settings.num_images)] for base in base_seeds]
        results = self.generator.generate(prompts, seeds, settings)
        for doc, images in zip(docs, results):
            if not images:
                mark_failed(doc, self.metas.name, BadInputError("the safety checker withheld every image"))
                continue
            doc.images = DocList[GeneratedImage](images)
            doc.image = images[0].image
            sure = images[0].confidence
            if sure is not None and sure < LOW_CONFIDENCE:
                doc.flags.append(
                    f"{self.metas.name}: unsure what to draw (confidence {sure:.2f}): the scenes generator knows "
                    f"{SCENE_WORLD}; check that the picture shows what was asked"
                )

    def _checked_settings(self, parameters: dict, error: type[TransmodalError]) -> GenerationSettings:
        """The `with:` defaults updated by the request's parameters, each checked against the limits.

        Only the settings' own names are read: the other parameters are meant for other executors.
        """

        def value(name: str) -> Any:
            return parameters[name] if name in parameters else getattr(self.defaults, name)

        negative_prompt = value("negative_prompt")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise error(f"negative_prompt must be text, not {negative_prompt!r}")
        guidance_scale = value("guidance_scale")
        if (
            isinstance(guidance_scale, bool)
            or not isinstance(guidance_scale, (int, float))
            or not math.isfinite(guidance_scale)
            or not 0 <= guidance_scale <= 50
        ):
            raise error(f"guidance_scale must be a number from 0 to 50, not {guidance_scale!r}")
        sizes = {}
        for name in ("width", "height"):
            size = _whole_number(value(name), name, 64, self.max_size, error, optional=True)
            if size is not None and size % 8:  # the autoencoder halves the image three times
                raise error(f"{name} must be a multiple of 8, not {size}")
            sizes[name] = size
        return GenerationSettings(
            num_images=_whole_number(value("num_images"), "num_images", 1, self.max_images, error),
            seed=_whole_number(value("seed"), "seed", 0, MAX_SEED, error, optional=True),
            steps=_whole_number(value("steps"), "steps", 1, self.max_steps, error),
            guidance_scale=float(guidance_scale),
            negative_prompt=negative_prompt or None,
            **sizes,
        )


def _prompt_of(doc: MediaDoc) -> str:
    prompt = (doc.final_text or "").strip()
    if not prompt:
        raise BadInputError("empty prompt: the document has no text or translation to draw")
    return prompt


@overload
def _whole_number(
    value: Any, name: str, low: int, high: int, error: type[TransmodalError], optional: Literal[False] = False
) -> int: ...


@overload
def _whole_number(
    value: Any, name: str, low: int, high: int, error: type[TransmodalError], optional: bool
) -> Optional[int]: ...


def _whole_number(
    value: Any, name: str, low: int, high: int, error: type[TransmodalError], optional: bool = False
) -> Optional[int]:
    """`value` as an int within [low, high]; 3.0 counts as 3 (JSON parameters arrive as doubles)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise error(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise error(f"{name} must be from {low} to {high}, not {value!r}")
    return int(value)
