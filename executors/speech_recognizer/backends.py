"""Speech recognition backends: `transcribe(samples, language) -> Transcript`.

Samples are float32 mono at 16 kHz (the executor resamples); `language` is an ISO 639-1 code, already
normalised, or None to let the backend detect it. A backend that cannot handle the language raises
UnsupportedLanguageError, which fails only that document.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

import numpy as np

from transmodal import languages
from transmodal.backends import Registry
from transmodal.errors import ConfigurationError, ModelNotFoundError, UnsupportedLanguageError
from transmodal.models import allow_download, load_pretrained, model_reference, torch_device

SAMPLE_RATE = 16_000

RECOGNIZERS: Registry = Registry("speech recognition")


@dataclasses.dataclass
class Transcript:
    text: str
    language: str  # ISO 639-1 code of the speech (given or detected)
    segments: list[tuple[float, float, str]]  # (start s, end s, text)
    translated_to: str | None = None  # set when the backend translated instead of transcribing
    language_probability: float | None = None  # the detector's confidence when the language was detected
    warnings: list[str] = dataclasses.field(default_factory=list)  # what a person should check


def _iso_code(code: str) -> str:
    """A model's language code as ISO 639-1 where transmodal knows it, else as the model wrote it."""
    try:
        return languages.normalize(code)
    except UnsupportedLanguageError:
        return code.lower()


def _check_task(task: str) -> str:
    if task not in ("transcribe", "translate"):
        raise ConfigurationError(f"unknown task {task!r}: use 'transcribe' or 'translate' (to English)")
    return task


@RECOGNIZERS.register("faster-whisper")
class FasterWhisperRecognizer:
    """Whisper on CTranslate2 (faster-whisper): the default backend, the fastest Whisper runtime on CPU.

    `model` is a directory holding a converted model (model.bin, config.json, tokenizer.json, ...) or the
    name of a model in transmodal's models folder ($TRANSMODAL_MODELS, filled by `make install`); the
    default is "whisper-base", multilingual. int8 on CPU, float16 on GPU unless `compute_type` says
    otherwise. `vad: true` skips silence with the Silero VAD faster-whisper ships: useful on long
    recordings, where Whisper otherwise invents text in the pauses. `check_language: true` (the default)
    listens to the first 30 s even when the language is given and warns when the speech is clearly another
    one: Whisper told the wrong language does not fail, it translates into it.
    """

    ENV_VAR = "TRANSMODAL_FASTER_WHISPER_MODEL"
    DEFAULT_MODEL = "whisper-base"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        compute_type: str | None = None,
        task: str = "transcribe",
        beam_size: int = 1,  # greedy: same WER as beam 5 on the LibriVox clips, half the time on CPU
        vad: bool = False,
        cpu_threads: int = 0,
        check_language: bool = True,
    ):
        from faster_whisper import WhisperModel

        reference = model or os.environ.get(self.ENV_VAR) or self.DEFAULT_MODEL
        folder = self._folder(reference)
        self.device = "cuda" if device == "auto" and _cuda_available() else ("cpu" if device == "auto" else device)
        self.compute_type = compute_type or ("float16" if self.device == "cuda" else "int8")
        # local_files_only: a directory is given, so no hub lookup can happen.
        self.model = WhisperModel(
            folder, device=self.device, compute_type=self.compute_type, cpu_threads=cpu_threads, local_files_only=True
        )
        self.task = _check_task(task)
        self.beam_size = beam_size
        self.vad = vad
        self.check_language = check_language

    def _folder(self, reference: str) -> str:
        """The model directory: `reference` itself, or the installed model of that name."""
        from transmodal import model_store

        how = (
            f"Set `with: backend_options: {{model: DIRECTORY}}` (or {self.ENV_VAR}) to a faster-whisper "
            f"(CTranslate2) model directory, or install one of {', '.join(sorted(model_store.MODELS))} into "
            f"the models folder ($TRANSMODAL_MODELS) with `{model_store.install_command(reference)}`."
        )
        if reference in model_store.MODELS and not os.path.isdir(reference):
            try:
                return str(model_store.installed(reference))
            except ModelNotFoundError as error:
                raise ModelNotFoundError(f"{error}\n{how}") from None
        if not os.path.isdir(reference):
            raise ModelNotFoundError(f"faster-whisper model {reference!r}: no such directory.\n{how}")
        if not os.path.isfile(os.path.join(reference, "model.bin")):
            raise ModelNotFoundError(f"faster-whisper model {reference!r}: the directory holds no model.bin.\n{how}")
        return reference

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        if language is not None:
            known = self.model.supported_languages
            if language not in known:
                raise UnsupportedLanguageError(
                    f"this Whisper model does not know {language!r}; it knows: {', '.join(sorted(known))}"
                )
        elif not self.model.model.is_multilingual:
            language = "en"
        segments, info = self.model.transcribe(
            samples.astype(np.float32),
            language=language,
            task=self.task,
            beam_size=self.beam_size,
            vad_filter=self.vad,
            # Each 30 s window decoded on its own: a misheard window does not derail the ones after it.
            condition_on_previous_text=False,
        )
        # `segments` is a generator: decoding happens while it is read, window by window.
        timed = [(float(segment.start), float(segment.end), segment.text.strip()) for segment in segments]
        timed = [segment for segment in timed if segment[2]]
        warnings = []
        if language is not None and self.check_language and self.multilingual:
            warnings += self._language_mismatch(samples, language)
        return Transcript(
            " ".join(text for _, _, text in timed),
            _iso_code(info.language),
            timed,
            translated_to="en" if self.task == "translate" and self.model.model.is_multilingual else None,
            language_probability=None if language is not None else float(info.language_probability),
            warnings=warnings,
        )

    # A mismatch is reported only when the detector is this sure of another language: on read speech the
    # right language scores above 0.9, and neighbours (es/ca/gl, no/nn) share what is left.
    MISMATCH_PROBABILITY = 0.8

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """(ISO 639-1 code, probability) of the language spoken in the first 30 s, without transcribing."""
        heard, probability, _ = self.model.detect_language(samples.astype(np.float32)[: 30 * SAMPLE_RATE])
        return _iso_code(heard), float(probability)

    def _language_mismatch(self, samples: np.ndarray, given: str) -> list[str]:
        """A warning when the first 30 s clearly sound like another language than the one given."""
        heard, probability = self.detect_language(samples)
        if heard == given or probability < self.MISMATCH_PROBABILITY:
            return []
        return [
            f"the speech sounds like {languages.described(heard)}, probability {probability:.2f}, not the "
            f"{languages.described(given)} given: Whisper writes what it hears in the language it is told, "
            f"so the text may be a translation. Give the right source language, or none to detect it"
        ]


def _cuda_available() -> bool:
    """A GPU CTranslate2 can use (no torch needed)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0
    except RuntimeError:  # a CPU-only build
        return False


@RECOGNIZERS.register("pocketsphinx")
class PocketSphinxRecognizer:
    """CMU PocketSphinx: offline, CPU-light, English (the PyPI wheel ships the en-us model).

    Another language needs its own acoustic model, dictionary and language model (paths in
    `acoustic_model`, `dictionary`, `language_model`) and `language` set to what they speak.
    """

    def __init__(
        self,
        acoustic_model: str | None = None,
        dictionary: str | None = None,
        language_model: str | None = None,
        language: str = "en",
    ):
        import pocketsphinx

        options = {"hmm": acoustic_model, "dict": dictionary, "lm": language_model}
        for key, path in options.items():
            if path is not None and not os.path.exists(path):
                raise ModelNotFoundError(f"pocketsphinx {key} not found: {path!r}")
        self.language = languages.normalize(language)
        self.decoder = pocketsphinx.Decoder(
            samprate=SAMPLE_RATE, loglevel="FATAL", **{key: path for key, path in options.items() if path}
        )
        self.frame_rate = int(self.decoder.config["frate"])
        self.lock = threading.Lock()  # one decoder, one utterance at a time

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        if language not in (None, self.language):
            raise UnsupportedLanguageError(
                f"pocketsphinx is configured for {self.language!r} only, not {language!r} "
                "(use `backend: whisper` or `backend: transformers` for other languages)"
            )
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        with self.lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            timed_words = [(entry.word, entry.start_frame, entry.end_frame) for entry in self.decoder.seg()]
        segments = self._segments(timed_words)
        return Transcript(" ".join(text for _, _, text in segments), self.language, segments)

    def _segments(self, timed_words: list[tuple[str, int, int]]) -> list[tuple[float, float, str]]:
        """Words grouped into segments at every pause the decoder heard (<sil>, noise fillers)."""
        segments: list[tuple[float, float, str]] = []
        words: list[str] = []
        start, end = 0, 0
        for word, first_frame, last_frame in timed_words + [("<sil>", 0, 0)]:
            if word.startswith(("<", "[")):  # <s>, </s>, <sil>, [NOISE]: a pause ends the segment
                if words:
                    segments.append((start / self.frame_rate, (end + 1) / self.frame_rate, " ".join(words)))
                words = []
                continue
            if not words:
                start = first_frame
            end = last_frame
            words.append(word.split("(")[0])  # "the(2)" is the dictionary's second pronunciation of "the"
        return segments


@RECOGNIZERS.register("whisper")
class WhisperRecognizer:
    """OpenAI Whisper (the openai-whisper package): ~100 languages, detection, translation to English.

    `model` is an official name ("tiny", "base", "small", ...; its .pt file must already be in
    `download_root`) or the path of a checkpoint file ({"dims", "model_state_dict"}).
    """

    ENV_VAR = "TRANSMODAL_WHISPER_MODEL"

    def __init__(
        self,
        model: str | None = None,
        download_root: str | None = None,
        device: str = "auto",
        task: str = "transcribe",
        beam_size: int | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ):
        import whisper

        reference = model_reference(model, self.ENV_VAR)
        self.device = torch_device(device)
        self.model = whisper.load_model(
            self._checkpoint(reference, download_root), device=self.device, download_root=download_root
        )
        self.task = _check_task(task)
        # No fallback temperatures by default: a deterministic transcript, one decode per 30 s window.
        self.options = {
            "beam_size": beam_size,
            "sample_len": max_tokens,
            "temperature": temperature,
            "fp16": self.device.startswith("cuda"),
        }

    def _checkpoint(self, reference: str, download_root: str | None) -> str:
        """The checkpoint to load: an existing file, or an official name already downloaded (or downloadable)."""
        import whisper

        if os.path.isfile(reference):
            return reference
        if reference in whisper.available_models():
            root = download_root or os.path.join(
                os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisper"
            )
            if os.path.isfile(os.path.join(root, os.path.basename(whisper._MODELS[reference]))) or allow_download():
                return reference
            where = f"it is not in {root}"
        else:
            where = f"no such file, and not one of {', '.join(whisper.available_models())}"
        raise ModelNotFoundError(
            f"cannot load Whisper model {reference!r}: {where}.\n"
            f"Set `with: backend_options: {{model: /path/to/checkpoint.pt}}` (or {self.ENV_VAR}), or put the "
            f"official .pt file in `with: backend_options: {{download_root: DIR}}`; set TRANSMODAL_ALLOW_DOWNLOAD=1 "
            f"to fetch it where the internet is reachable."
        )

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        from whisper.tokenizer import LANGUAGES as WHISPER_LANGUAGES

        if language is not None:
            known = WHISPER_LANGUAGES if self.model.is_multilingual else {"en": "english"}
            if language not in known:
                raise UnsupportedLanguageError(
                    f"this Whisper model does not know {language!r}; it knows: {', '.join(sorted(known))}"
                )
        elif not self.model.is_multilingual:
            language = "en"
        result = self.model.transcribe(
            samples.astype(np.float32),
            task=self.task,
            language=language,
            verbose=None,
            condition_on_previous_text=False,
            **self.options,
        )
        segments = [
            (float(segment["start"]), float(segment["end"]), segment["text"].strip()) for segment in result["segments"]
        ]
        return Transcript(
            result["text"].strip(),
            _iso_code(result["language"]),
            segments,
            translated_to="en" if self.task == "translate" else None,
        )


@RECOGNIZERS.register("transformers")
class TransformersWhisperRecognizer:
    """Whisper through transformers (WhisperForConditionalGeneration + WhisperProcessor), by hub id found
    in the local cache or a directory written by save_pretrained."""

    ENV_VAR = "TRANSMODAL_ASR_MODEL"
    WINDOW_SECONDS = 30  # Whisper's encoder sees 30 s; longer audio is decoded window after window

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        task: str = "transcribe",
        num_beams: int = 1,
        max_new_tokens: int | None = None,
        return_timestamps: bool = True,
    ):
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

        reference = model_reference(model, self.ENV_VAR)
        self.processor = load_pretrained(AutoProcessor.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.model = load_pretrained(AutoModelForSpeechSeq2Seq.from_pretrained, reference, "model", self.ENV_VAR)
        self.model.to(self.device).eval()
        self.task = _check_task(task)
        self.generate_options = {"num_beams": num_beams, "return_timestamps": return_timestamps}
        if max_new_tokens is not None:
            self.generate_options["max_new_tokens"] = max_new_tokens
        # "<|es|>" -> "es": the languages the model was trained on (none for English-only checkpoints).
        language_ids = getattr(self.model.generation_config, "lang_to_id", None) or {}
        self.model_languages = {token.strip("<|>") for token in language_ids}

    def _detect_language(self, features) -> str:
        import torch

        window_frames = self.processor.feature_extractor.nb_max_frames  # detection looks at the first 30 s
        with torch.inference_mode():
            token_id = self.model.detect_language(features[..., :window_frames])[0].item()
        return self.processor.tokenizer.convert_ids_to_tokens(token_id).strip("<|>")

    def transcribe(self, samples: np.ndarray, language: str | None) -> Transcript:
        import torch

        if not self.model_languages:  # English-only model
            if language not in (None, "en"):
                raise UnsupportedLanguageError(f"this Whisper model is English-only, not {language!r}")
            language = "en"
        elif language is not None and language not in self.model_languages:
            raise UnsupportedLanguageError(
                f"this Whisper model does not know {language!r}; it knows: {', '.join(sorted(self.model_languages))}"
            )
        long_form = len(samples) > self.WINDOW_SECONDS * SAMPLE_RATE
        # Up to 30 s: padded to one window. Longer: the whole input, which generate() walks through.
        inputs = self.processor(
            samples,
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
            return_attention_mask=long_form,
            **({"truncation": False, "padding": "longest"} if long_form else {}),
        ).to(self.device)
        features = inputs.input_features.to(self.model.dtype)
        if language is None:
            language = self._detect_language(features)
        options: dict[str, Any] = dict(self.generate_options)
        if self.model_languages:  # English-only models take neither a language nor a task
            options.update(language=language, task=self.task)
        if long_form:
            options["attention_mask"] = inputs.attention_mask
        with torch.inference_mode():
            output = self.model.generate(features, **options)
        sequences = output["sequences"] if isinstance(output, dict) else output
        duration = len(samples) / SAMPLE_RATE
        segments = self._segments(sequences[0], duration) if options["return_timestamps"] else []
        text = self.processor.batch_decode(sequences, skip_special_tokens=True)[0].strip()
        if not segments and text:
            segments = [(0.0, duration, text)]
        return Transcript(
            text,
            _iso_code(language),
            segments,
            translated_to="en" if self.task == "translate" and self.model_languages else None,
        )

    def _segments(self, token_ids, duration: float) -> list[tuple[float, float, str]]:
        decoded = self.processor.tokenizer.decode(token_ids, output_offsets=True, skip_special_tokens=True)
        segments = []
        for offset in decoded.get("offsets", []):
            start, end = offset["timestamp"]
            end = duration if end is None else end  # an unfinished last segment runs to the end
            text = offset["text"].strip()
            if text:  # timestamps in the padding after the audio are clamped to its end
                segments.append((min(float(start), duration), min(float(end), duration), text))
        return segments
