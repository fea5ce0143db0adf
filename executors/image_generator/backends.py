"""Image generation backends: `generate(prompts, seeds, settings) -> images`, one pipeline call per batch.

A backend `reads` "text" (the default: `prompts` are the documents' texts) or "audio" (`prompts` are the
documents' (samples, rate)). `prompts` holds one prompt per document, `seeds` one list of seeds per prompt
(one seed per image), and the result one list of `GeneratedImage`s (PNG bytes and seed) per prompt, in the same order.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Optional

import numpy as np

from transmodal.backends import Registry
from transmodal.docs import GeneratedImage
from transmodal.errors import BadInputError, ConfigurationError
from transmodal.media import encode_image
from transmodal.models import load_pretrained, model_reference, torch_device
from transmodal.scene_world import SCENE_WORLD

if TYPE_CHECKING:
    import torch

GENERATORS: Registry = Registry("image generation")


@dataclasses.dataclass(frozen=True)
class GenerationSettings:
    """How to generate, shared by every prompt of one request (already checked by the executor)."""

    num_images: int = 1  # per prompt
    seed: Optional[int] = None  # the executor turns it into one seed per image (seed + i)
    steps: int = 30
    guidance_scale: float = 7.5
    width: Optional[int] = None  # None: the model's native size
    height: Optional[int] = None
    negative_prompt: Optional[str] = None


# Short names of the usual Stable Diffusion schedulers -> diffusers classes.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
}

DTYPES = ("auto", "float16", "bfloat16", "float32")


@GENERATORS.register("diffusers")
class DiffusersGenerator:
    """Any diffusers text-to-image pipeline (Stable Diffusion 1.x/2.x, SDXL, ...) via AutoPipelineForText2Image.

    `model` is a hub id (found in the local cache) or a directory written by `save_pretrained`, holding
    model_index.json and the pipeline's components. `scheduler` swaps the sampler (see SCHEDULERS).
    """

    ENV_VAR = "TRANSMODAL_IMAGE_MODEL"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        scheduler: str | None = None,
        safety_checker: bool = False,
    ):
        import diffusers
        import torch

        if dtype not in DTYPES:
            raise ConfigurationError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise ConfigurationError(f"unknown scheduler {scheduler!r}; choose one of: {', '.join(SCHEDULERS)}")
        self.device = torch_device(device)
        if dtype == "auto":  # half precision halves GPU memory at no visible cost; CPUs compute fp16 slowly
            dtype = "float16" if self.device.startswith("cuda") else "float32"
        # Stable Diffusion's safety checker is a second CLIP model (~1 GB) that blacks out any image it
        # flags, with false positives on harmless prompts, and many checkpoints do not ship it: off unless
        # asked for. A public deployment should turn it on (`safety_checker: true`).
        safety_options = {} if safety_checker else {"safety_checker": None, "requires_safety_checker": False}
        reference = model_reference(model, self.ENV_VAR)
        self.pipeline = load_pretrained(
            diffusers.AutoPipelineForText2Image.from_pretrained,
            reference,
            "model",
            self.ENV_VAR,
            dtype=getattr(torch, dtype),
            **safety_options,
        )
        if scheduler is not None:
            scheduler_class = getattr(diffusers, SCHEDULERS[scheduler])
            self.pipeline.scheduler = scheduler_class.from_config(self.pipeline.scheduler.config)
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)

    def generate(
        self, prompts: list[str], seeds: list[list[int]], settings: GenerationSettings
    ) -> list[list[GeneratedImage]]:
        import torch

        # One generator per image, on the CPU: an image depends on its own seed only, not on its place in
        # the batch, and a seed gives the same starting noise on any device.
        generators = [torch.Generator("cpu").manual_seed(seed) for prompt_seeds in seeds for seed in prompt_seeds]
        options = {}
        if settings.negative_prompt:
            options["negative_prompt"] = [settings.negative_prompt] * len(prompts)
        with torch.inference_mode():
            output = self.pipeline(
                prompt=prompts,
                num_images_per_prompt=settings.num_images,
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance_scale,
                width=settings.width,
                height=settings.height,
                generator=generators,
                **options,
            )
        # Images come prompt by prompt: all of the first prompt's, then the second's, as the generators.
        flagged = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        results: list[list[GeneratedImage]] = []
        for index, prompt_seeds in enumerate(seeds):
            start = index * settings.num_images
            results.append(
                [
                    GeneratedImage(image=encode_image(np.asarray(image.convert("RGB"))), seed=seed)  # type: ignore[arg-type]  # docarray validates the bytes into ImageBytes
                    for image, seed, unsafe in zip(output.images[start:], prompt_seeds, flagged[start:])
                    if not unsafe  # the safety checker returns a black image in its place
                ]
            )
        return results


CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


def _scene_network(
    path: str | None, env_var: str, default: str, network: str | tuple[str, ...], option: str, model: str, device: str
):
    """One of the scene-world networks (training/scenes/README.md): `option` is its `backend_options` key,
    `model` the `transmodal train` model that makes it."""
    from transmodal.nets import checkpoint

    shipped = os.path.join(CHECKPOINTS, default)
    option = f"backend_options: {{{option}: PATH}}"
    return checkpoint.load_configured(path, env_var, shipped, network, torch_device(device), option, model)


@GENERATORS.register("scenes")
class SceneTextToImage:
    """The generator trained on the project's generated scene world (training/scenes), from a description:
    "a big red circle above a small blue square" -> 128 x 128 (64 x 64 when width <= 64). The shipped one is
    the box-layout generator (each thing's box, colour and shape read from the caption's embedding, then
    drawn); the StackGAN-shaped one (`text-to-image-cpu-layout.pt`) loads alike.

    Offline and small, but it draws only its world: one to three circles, squares, triangles, diamonds and
    stars in seven colours, in relations above / below / left / right. Words outside that world are
    ignored; a prompt with none of its words fails that document. Checkpoints: `generator`
    (TRANSMODAL_SCENE_GENERATOR) and the text side of the scene encoder it was trained on, `encoder`
    (TRANSMODAL_SCENE_ENCODER); the shipped ones by default.
    """

    reads = "text"

    def __init__(self, generator: str | None = None, encoder: str | None = None, device: str = "cpu"):
        from transmodal.nets.checkpoint import SCENE_GENERATORS

        self.device = torch_device(device)
        self.generator = _scene_network(
            generator,
            "TRANSMODAL_SCENE_GENERATOR",
            "text-to-image-cpu-boxes.pt",
            SCENE_GENERATORS,
            "generator",
            "text-to-image",
            device,
        )
        self.encoder = _scene_network(
            encoder,
            "TRANSMODAL_SCENE_ENCODER",
            "scene-encoder-cpu.pt",
            "dual-encoder",
            "encoder",
            "scene-encoder",
            device,
        )

    def embed(self, prompts: list) -> tuple[torch.Tensor, list[float | None]]:
        """The prompts' embeddings, and for each how likely it is to speak of the scene world (None: a text
        prompt, checked for the world's words here instead)."""
        vocabulary = self.encoder.text.vocabulary
        for prompt in prompts:
            if not any(token > 1 for token in vocabulary.encode(prompt)):
                raise BadInputError(
                    f"the scenes generator knows none of the words of {prompt!r}: it draws {SCENE_WORLD} (use "
                    "the diffusers backend for other prompts)"
                )
        return self.encoder.text.encode(prompts), [None] * len(prompts)

    def generate(
        self, prompts: list, seeds: list[list[int]], settings: GenerationSettings
    ) -> list[list[GeneratedImage]]:
        import torch

        results: list[list[GeneratedImage]] = []
        with torch.inference_mode():
            embeddings, about_world = self.embed(prompts)
            for embedding, in_world, prompt_seeds in zip(embeddings, about_world, seeds):
                noise = torch.stack(
                    [
                        torch.randn(self.generator.noise, generator=torch.Generator("cpu").manual_seed(seed))
                        for seed in prompt_seeds
                    ]
                ).to(self.device)
                small, large, _mu, _log_variance = self.generator(embedding.expand(len(prompt_seeds), -1), noise)
                drawn = small if (settings.width or 128) <= 64 and (settings.height or 128) <= 64 else large
                pixels = ((drawn.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
                sure = self._confidence(embedding[None], in_world)
                results.append([self._image(image, seed, settings, sure) for image, seed in zip(pixels, prompt_seeds)])
        return results

    def _confidence(self, embedding: torch.Tensor, in_world: float | None) -> float | None:
        """How sure the generator is of what it draws (the box-layout generator can tell; the StackGAN-shaped
        one cannot), capped by how likely the prompt speaks of the scene world; None when neither is known."""
        from transmodal.nets.scenes import BoxLayoutGenerator

        known = [] if in_world is None else [in_world]
        if isinstance(self.generator, BoxLayoutGenerator):
            layout = self.generator.lay_out(self.generator.augment(embedding)[1])
            known.append(float(self.generator.confidence(layout)[0]))
        return round(min(known), 3) if known else None

    @staticmethod
    def _image(pixels: np.ndarray, seed: int, settings: GenerationSettings, confidence: float | None) -> GeneratedImage:
        if settings.width or settings.height:  # another size asked for: resized (the network draws 64 or 128)
            from PIL import Image

            width = settings.width or settings.height or 128
            size = (width, settings.height or width)
            pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC))
        return GeneratedImage(image=encode_image(pixels), seed=seed, confidence=confidence)  # type: ignore[arg-type]  # docarray validates the bytes into ImageBytes


@GENERATORS.register("scenes-from-speech")
class SceneSpeechToImage(SceneTextToImage):
    """Speech -> image without text in the middle (Li et al., "Direct Speech-to-Image Translation"): the
    speech encoder trained as the student of the scene encoder's caption embeddings (no transcripts) feeds
    the same generator. Reads each document's audio, not its text. Checkpoint `speech_encoder`
    (TRANSMODAL_SPEECH_ENCODER), the shipped one by default."""

    reads = "audio"

    def __init__(
        self,
        generator: str | None = None,
        encoder: str | None = None,
        speech_encoder: str | None = None,
        device: str = "cpu",
    ):
        super().__init__(generator, encoder, device)
        self.speech_encoder = _scene_network(
            speech_encoder,
            "TRANSMODAL_SPEECH_ENCODER",
            "speech-encoder-cpu.pt",
            "speech-encoder",
            "speech_encoder",
            "speech-encoder",
            device,
        )

    def embed(self, prompts: list) -> tuple[torch.Tensor, list[float | None]]:
        from transmodal.audio import speech_features
        from transmodal.nets.scenes import pad_frames

        batch, lengths = pad_frames(
            [speech_features(samples, rate, self.speech_encoder.mels) for samples, rate in prompts]
        )
        embeddings, in_world = self.speech_encoder.in_world(batch.to(self.device), lengths)
        # (a speech encoder trained without the detector head cannot tell: only the layout's doubt then)
        return embeddings, [None] * len(prompts) if in_world is None else [float(p) for p in in_world]
