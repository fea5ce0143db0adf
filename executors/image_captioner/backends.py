"""Captioning backends: `caption(images) -> one description per image`, in order, and
`confidences(images) -> how sure the backend is that each image is one it can describe` (None: it cannot
tell; below `LOW_CONFIDENCE` the executor flags the document, saying the backend's `knows`).

`images` are RGB uint8 arrays. A backend's `language` (ISO 639-1) is the language it describes in, and its
`units` what a description is made of: "words", or "phones" (transmodal.phones, for a language with no
writing: a description said by a SpeechSynthesizer, not read). An
empty description means the backend found nothing to say; the executor turns it into that document's error,
with the backend's `nothing_found` as the reason.
"""

from __future__ import annotations

import os

import numpy as np

from transmodal import languages
from transmodal.backends import Registry
from transmodal.errors import ConfigurationError
from transmodal.models import load_pretrained, model_reference, torch_device
from transmodal.ocr.lines import has_words, reading_order, regions_from_lines
from transmodal.ocr.readers import OCR_READERS
from transmodal.scene_world import SCENE_WORLD

CAPTIONERS: Registry = Registry("image captioning")


@CAPTIONERS.register("transformers")
class TransformersCaptioner:
    """An image-to-text model: BLIP, GIT or a VisionEncoderDecoder such as ViT-GPT2, all through
    AutoModelForImageTextToText.

    `model` is a hub id (found in the local cache) or a directory written by save_pretrained, holding the
    model, its image processor and its tokenizer. `language` is the language the model writes in.
    """

    ENV_VAR = "TRANSMODAL_CAPTION_MODEL"
    nothing_found = "the model generated an empty caption"
    units = "words"

    def __init__(
        self,
        model: str | None = None,
        language: str = "en",
        device: str = "auto",
        batch_size: int = 16,
        max_new_tokens: int = 30,
        num_beams: int = 1,
    ):
        from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

        self.language = languages.normalize(language)
        reference = model_reference(model, self.ENV_VAR)
        # An image processor and a tokenizer rather than AutoProcessor: VisionEncoderDecoder checkpoints
        # (ViT-GPT2) ship no processor class, and the pair works for BLIP and GIT too.
        self.image_processor = load_pretrained(AutoImageProcessor.from_pretrained, reference, "model", self.ENV_VAR)
        self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, reference, "model", self.ENV_VAR)
        self.model = load_pretrained(AutoModelForImageTextToText.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers stubs: to() wrapped as if it took a model
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    def caption(self, images: list[np.ndarray]) -> list[str]:
        import torch

        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixel_values = self.image_processor(images=batch, return_tensors="pt").pixel_values
            with torch.inference_mode():
                output = self.model.generate(  # type: ignore[misc]  # transformers stubs: generate is typed for GenerativePreTrainedModel only
                    pixel_values=pixel_values.to(self.device, self.model.dtype),
                    max_new_tokens=self.max_new_tokens,
                    num_beams=self.num_beams,
                )
            captions += self.tokenizer.batch_decode(output, skip_special_tokens=True)  # type: ignore[arg-type]  # a LongTensor of token ids here
        return [" ".join(caption.split()) for caption in captions]

    def confidences(self, images: list[np.ndarray]) -> list[float | None]:
        return [None] * len(images)  # a captioner of any picture: nothing to doubt here


@CAPTIONERS.register("ocr")
class TextInImageCaptioner:
    """Describes an image by the text written in it, read by an OCR reader (Tesseract by default; also
    `rapidocr+tesseract`, which finds text on photos, or `rapidocr`) the same way the TextDetector reads.

    Offline and real, but it sees writing only: a sign gets its text ("No smoking"), a photo without
    writing gets no description (an error on that document). Use `transformers` for scene descriptions.
    """

    nothing_found = "no text found in the image (the ocr captioner describes images by their writing only)"
    units = "words"

    def __init__(
        self,
        language: str = "en",
        detector: str = "tesseract",
        detector_options: dict | None = None,
        min_confidence: float = 0.5,
    ):
        self.language = languages.normalize(language)
        if detector not in OCR_READERS:
            raise ConfigurationError(f"detector must be one of {', '.join(OCR_READERS)}, not {detector!r}")
        self.reader = OCR_READERS[detector](**(detector_options or {}))
        self.reader.check_language(self.language)  # a language without OCR data fails at start-up
        self.min_confidence = min_confidence

    def caption(self, images: list[np.ndarray]) -> list[str]:
        captions = []
        for pixels in images:
            regions = [
                region
                for region in regions_from_lines(self.reader.read(pixels, self.language), self.language)
                if has_words(region.text) and region.confidence >= self.min_confidence
            ]
            regions = reading_order(regions)
            captions.append("\n".join(region.text for region in regions))
        return captions

    def confidences(self, images: list[np.ndarray]) -> list[float | None]:
        return [None] * len(images)  # (each text region's confidence is checked in `caption`)


CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")


@CAPTIONERS.register("scenes")
class SceneCaptioner:
    """The captioner trained on the project's generated scene world (training/scenes; the image2speech
    design): "a big red circle above a small blue square". Offline and small, but it
    knows only its world (one to three simple shapes in seven colours, their sizes and places); on any other
    picture it still says such a sentence. Checkpoint from `checkpoint` or TRANSMODAL_SCENE_CAPTIONER, else
    the shipped one of `units`: words, or phones (the image2speech paper's units for a language with no
    writing: English phones in eSpeak NG's notation, said by the SpeechSynthesizer's espeak-ng)."""

    ENV_VAR = "TRANSMODAL_SCENE_CAPTIONER"
    SHIPPED = {"words": "image-to-text-gpu.pt", "phones": "image-to-text-cpu-phones.pt"}
    nothing_found = "the scene captioner generated an empty caption"
    knows = f"the scene captioner describes only its world: {SCENE_WORLD}"
    language = "en"

    def __init__(
        self, checkpoint: str | None = None, device: str = "cpu", batch_size: int = 64, units: str | None = None
    ):
        from transmodal.nets import checkpoint as checkpoints

        if units is not None and units not in self.SHIPPED:
            raise ConfigurationError(f"units must be one of {', '.join(self.SHIPPED)}, not {units!r}")
        self.device = torch_device(device)
        shipped = os.path.join(CHECKPOINTS, self.SHIPPED[units or "words"])
        option = "backend_options: {checkpoint: PATH}"
        train = "image-to-text" + (" --units phones" if units == "phones" else "")
        self.model = checkpoints.load_configured(
            checkpoint, self.ENV_VAR, shipped, "scene-captioner", self.device, option, train
        )
        self.units = str(self.model.vocabulary.units)  # type: ignore[union-attr]  # a SceneCaptioner, loaded by name
        if units is not None and units != self.units:
            raise ConfigurationError(f"the scene captioner's checkpoint says {self.units}, not the {units} asked for")
        self.batch_size = batch_size

    def caption(self, images: list[np.ndarray]) -> list[str]:
        from transmodal.nets.scenes import scene_pixels

        captions: list[str] = []
        for start in range(0, len(images), self.batch_size):
            pixels = scene_pixels(images[start : start + self.batch_size]).to(self.device)
            captions += self.model.generate(pixels)  # type: ignore[operator]  # a SceneCaptioner, loaded by name
        return captions

    def confidences(self, images: list[np.ndarray]) -> list[float | None]:
        """The detector head's probability that each picture is of the scene world (None for all with a
        checkpoint trained without one)."""
        from transmodal.nets.scenes import scene_pixels

        sure: list[float | None] = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            in_world = self.model.in_world(scene_pixels(batch).to(self.device))  # type: ignore[operator]
            sure += [None] * len(batch) if in_world is None else [float(value) for value in in_world]
        return sure
