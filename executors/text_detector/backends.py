"""TextDetector backends: `read(pixels, language) -> list[Line]`, the lines of a page with their text.

`pixels` is an RGB uint8 array; `language` an ISO 639-1 code already normalised by the executor, which
also groups the lines into regions (transmodal.ocr.lines). A backend pairs something that finds text lines
(Tesseract's layout analysis, RapidOCR's detector) with something that reads them (Tesseract, RapidOCR's
recogniser, a transformers model, the SEE network): see transmodal.stages for the protocols.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from PIL import Image

from transmodal.backends import Registry
from transmodal.errors import ConfigurationError
from transmodal.models import load_pretrained, model_reference, torch_device
from transmodal.ocr.lines import Line, crop_line
from transmodal.ocr.rapidocr import RapidOCREngine
from transmodal.ocr.readers import OCR_READERS
from transmodal.ocr.tesseract import TesseractEngine
from transmodal.stages import TextReader

DETECTORS: Registry[TextReader] = Registry("text detection")

# Engines that can find lines for a reader that cannot (TrOCR reads one line at a time).
LINE_FINDERS = {"tesseract": TesseractEngine, "rapidocr": RapidOCREngine}


for name, reader in OCR_READERS.items():
    DETECTORS.register(name)(reader)


@DETECTORS.register("transformers")
class TransformersReader:
    """A TrOCR-style VisionEncoderDecoderModel reading the lines that `line_detector` (an OCR engine) finds.

    `model` is a hub id (found in the local cache) or a directory written by save_pretrained, holding the
    model, its image processor (preprocessor_config.json) and its tokenizer. TrOCR models read one printed
    or handwritten line at a time in the language they were trained on, so `check_language` defers to
    the line detector only.
    """

    ENV_VAR = "TRANSMODAL_OCR_MODEL"

    def __init__(
        self,
        model: str | None = None,
        line_detector: str = "tesseract",
        device: str = "auto",
        batch_size: int = 16,
        max_new_tokens: int = 64,
        num_beams: int = 1,
        line_detector_options: dict | None = None,
    ):
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        if line_detector not in LINE_FINDERS:
            raise ConfigurationError(f"line_detector must be one of {', '.join(LINE_FINDERS)}, not {line_detector!r}")
        # The model before the line detector: a missing model must fail fast, before anything slow is loaded.
        reference = model_reference(model, self.ENV_VAR)
        self.image_processor = load_pretrained(AutoImageProcessor.from_pretrained, reference, "model", self.ENV_VAR)
        self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, reference, "model", self.ENV_VAR)
        self.model = load_pretrained(VisionEncoderDecoderModel.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers stubs: to() wrapped as if it took a model
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.line_finder = LINE_FINDERS[line_detector](**(line_detector_options or {}))

    def check_language(self, language: str) -> None:
        self.line_finder.check_language(language)

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        import torch

        results: list[tuple[str, float]] = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            # PIL images: a numpy crop only 3 pixels high could be mistaken for channels-first.
            images = [Image.fromarray(crop) for crop in batch]
            pixel_values = self.image_processor(images=images, return_tensors="pt").pixel_values.to(self.device)
            with torch.inference_mode():
                output = self.model.generate(  # type: ignore[misc]  # transformers stubs: generate is typed for GenerativePreTrainedModel only
                    pixel_values,
                    max_new_tokens=self.max_new_tokens,
                    num_beams=self.num_beams,
                    output_scores=True,
                    return_dict_in_generate=True,
                )
                token_scores = self.model.compute_transition_scores(  # type: ignore[misc]  # transformers stubs: generate is typed for GenerativePreTrainedModel only
                    output.sequences,  # type: ignore[union-attr]  # a GenerateOutput: return_dict_in_generate=True
                    output.scores,  # type: ignore[union-attr, arg-type]
                    getattr(output, "beam_indices", None),
                    normalize_logits=True,
                )
            texts = self.tokenizer.batch_decode(output.sequences, skip_special_tokens=True)  # type: ignore[union-attr]
            # The decoder start token has no score: generated tokens are sequences[:, 1:].
            generated = output.sequences[:, -token_scores.shape[1] :].cpu().numpy()  # type: ignore[union-attr]
            for text, tokens, scores in zip(texts, generated, token_scores.float().cpu().numpy()):
                results.append((text.strip(), self._confidence(tokens, scores)))
        return results

    def _confidence(self, tokens: np.ndarray, scores: np.ndarray) -> float:
        """Geometric mean of the generated tokens' probabilities, up to and including the first end token."""
        ends = np.flatnonzero(np.isin(tokens, self.model.generation_config.eos_token_id))  # an id or a list
        length = int(ends[0]) + 1 if len(ends) else len(tokens)
        return float(np.exp(np.mean(scores[:length]))) if length else 0.0

    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]:
        lines = self.line_finder.find_lines(pixels, language)  # any text it reads is replaced by the model's
        if on_lines is not None:
            on_lines(lines)
        results = self.recognize([crop_line(pixels, line.box) for line in lines])
        return [
            dataclasses.replace(line, text=text, confidence=confidence)
            for line, (text, confidence) in zip(lines, results)
        ]


@DETECTORS.register("see")
def see_reader(**options) -> TextReader:
    """The SEE spatial-transformer model (transmodal.nets.see), imported only when chosen (torch)."""
    from executors.text_detector.see import SeeReader

    return SeeReader(**options)
