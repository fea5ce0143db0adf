"""Image generation backends: `generate(prompts, seeds, settings) -> images`, one pipeline call per batch.

`prompts` holds one prompt per document, `seeds` one list of seeds per prompt (one seed per image), and
the result one list of `GeneratedImage`s (PNG bytes and seed) per prompt, in the same order.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from transmodal.backends import Registry
from transmodal.docs import GeneratedImage
from transmodal.errors import ConfigurationError
from transmodal.media import encode_image
from transmodal.models import load_pretrained, model_reference, torch_device

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
