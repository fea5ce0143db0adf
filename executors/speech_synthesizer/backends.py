"""Speech synthesis backends: `speak(text, language) -> (float32 mono samples, sample rate)`.

Backends that can say phones (transmodal.phones: a language with no writing) also have
`speak_phones(phones, language)`; `speaks_phones` tells which.

Each backend lists the ISO 639-1 codes it can speak in `languages` and refuses others in `check_language`,
which the executor calls before any synthesis. `speak` gets one sentence at a time (the executor splits
long text and joins the audio).
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from typing import Any

import numpy as np

from transmodal import languages
from transmodal.audio import decode_audio
from transmodal.backends import Registry
from transmodal.binaries import require_binary
from transmodal.errors import ConfigurationError, ModelNotFoundError
from transmodal.models import load_pretrained, model_reference, torch_device
from transmodal.phones import espeak_phoneme_input

SYNTHESIZERS: Registry = Registry("speech synthesis")


def _run_to_wav(command: list[str], text: str, timeout: float) -> tuple[np.ndarray, int]:
    """Run a command-line synthesiser that reads text from a file and writes a WAV file."""
    with tempfile.TemporaryDirectory(prefix="transmodal-tts-") as directory:
        text_path, wav_path = os.path.join(directory, "text.txt"), os.path.join(directory, "speech.wav")
        with open(text_path, "w", encoding="utf-8") as file:
            file.write(text)
        arguments = [argument.format(text=text_path, wav=wav_path) for argument in command]
        result = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 or not os.path.exists(wav_path):
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}")
        with open(wav_path, "rb") as file:
            return decode_audio(file.read(), max_seconds=math.inf)


@SYNTHESIZERS.register("flite")
class FliteSynthesizer:
    """CMU Flite from Debian: offline, English only. Voices: awb (male, Scottish), rms (male), slt (female),
    kal16; these are 16 kHz (awb/rms/slt are ClusterGen voices, clearer than the diphone kal16); kal is
    8 kHz. awb is the default: the most intelligible on short sign texts (benchmarks/speech.py)."""

    languages = ["en"]
    speaks_phones = False

    def __init__(self, voice: str = "awb", binary: str = "flite", timeout: float = 120.0):
        self.binary = require_binary(binary, "apt-get install flite")
        listed = subprocess.run([self.binary, "-lv"], capture_output=True, text=True, timeout=timeout).stdout
        voices = listed.split(":", 1)[-1].split()
        if voice not in voices:  # flite silently falls back to a default for an unknown voice
            raise ConfigurationError(f"unknown flite voice {voice!r}; installed: {', '.join(voices)}")
        self.voice = voice
        self.timeout = timeout

    def check_language(self, language: str) -> None:
        languages.require_listed(language, self.languages, "flite")

    def speak(self, text: str, language: str) -> tuple[np.ndarray, int]:
        return _run_to_wav([self.binary, "-voice", self.voice, "-f", "{text}", "-o", "{wav}"], text, self.timeout)


# Where espeak-ng's voice is not named by the ISO 639-1 code itself.
ESPEAK_VOICE_FOR = {"en": "en-us", "zh": "cmn", "no": "nb", "fr": "fr-fr"}


@SYNTHESIZERS.register("espeak-ng")
class EspeakSynthesizer:
    """eSpeak NG from Debian: offline formant synthesis, ~100 languages, 22.05 kHz; robotic but clear
    enough for people (poorly recognised by pocketsphinx). `speed` is in words per minute. It also says
    phones, through its phoneme input."""

    speaks_phones = True

    def __init__(
        self,
        binary: str = "espeak-ng",
        speed: int = 160,
        voices: dict | None = None,
        timeout: float = 120.0,
        phones_speed: int = 130,
    ):
        self.binary = require_binary(binary, "apt-get install espeak-ng")
        self.speed = speed
        # Phones run on with no word breaks: said at 160 words a minute, Whisper base misheard 11 % of the
        # words of 60 scene captions; at 130, 4.7 % (the words themselves at 130: 6.6 %).
        self.phones_speed = phones_speed
        self.timeout = timeout
        installed = self._installed_voices()
        self.voices: dict[str, str] = {}  # ISO 639-1 -> espeak-ng voice
        for code in languages.LANGUAGES:
            preferred = ESPEAK_VOICE_FOR.get(code, code)
            if preferred in installed:
                self.voices[code] = preferred
            else:  # a regional variant ("pt-br") when the plain code is missing
                variants = sorted(voice for voice in installed if voice.startswith(code + "-"))
                if variants:
                    self.voices[code] = variants[0]
        self.voices.update(voices or {})  # `with:` overrides, e.g. {en: en-gb, es: es-419}
        self.languages = sorted(self.voices)

    def _installed_voices(self) -> set[str]:
        listed = subprocess.run([self.binary, "--voices"], capture_output=True, text=True, timeout=self.timeout)
        voices = set()
        for line in listed.stdout.splitlines()[1:]:
            columns = line.split()
            # Columns: Pty Language Age/Gender VoiceName File ...; mbrola voices ("mb/...") need extra data.
            if len(columns) >= 5 and not columns[4].startswith("mb/"):
                voices.add(columns[1].lower())
        return voices

    def check_language(self, language: str) -> None:
        languages.require_listed(language, self.languages, "espeak-ng")

    def speak(self, text: str, language: str, speed: int | None = None) -> tuple[np.ndarray, int]:
        command = [
            self.binary,
            "-b",
            "1",
            "-v",
            self.voices[language],
            "-s",
            str(self.speed if speed is None else speed),
            "-f",
            "{text}",
            "-w",
            "{wav}",
        ]
        return _run_to_wav(command, text, self.timeout)

    def speak_phones(self, phones: str, language: str) -> tuple[np.ndarray, int]:
        """Phones in transmodal.phones' notation, said by `language`'s voice (whose phoneme set they use)."""
        return self.speak(espeak_phoneme_input(phones), language, self.phones_speed)


@SYNTHESIZERS.register("auto")
class AutoSynthesizer:
    """The offline default: flite for English (far clearer), espeak-ng for every other language and for
    phones."""

    speaks_phones = True

    def __init__(self, flite: dict | None = None, espeak_ng: dict | None = None):
        self.english = FliteSynthesizer(**(flite or {}))
        self.others = EspeakSynthesizer(**(espeak_ng or {}))
        self.languages = sorted(set(self.english.languages) | set(self.others.languages))

    def check_language(self, language: str) -> None:
        languages.require_listed(language, self.languages, "the auto speech backend (flite + espeak-ng)")

    def speak(self, text: str, language: str) -> tuple[np.ndarray, int]:
        backend = self.english if language in self.english.languages else self.others
        return backend.speak(text, language)

    def speak_phones(self, phones: str, language: str) -> tuple[np.ndarray, int]:
        return self.others.speak_phones(phones, language)


@SYNTHESIZERS.register("transformers")
class TransformersSynthesizer:
    """A transformers TTS model, by hub id found in the local cache or a directory from save_pretrained:

    - SpeechT5 (SpeechT5ForTextToSpeech + SpeechT5Processor) with a SpeechT5HifiGan `vocoder` and a
      speaker x-vector (`speaker_embeddings`: a .npy file; zeros by default, a neutral voice);
    - VITS / MMS-TTS (VitsModel + its tokenizer), which makes waveforms directly.

    A model speaks one language: declare it in `language`.
    """

    ENV_VAR = "TRANSMODAL_TTS_MODEL"
    VOCODER_ENV_VAR = "TRANSMODAL_TTS_VOCODER"
    speaks_phones = False

    def __init__(
        self,
        model: str | None = None,
        vocoder: str | None = None,
        speaker_embeddings: str | None = None,
        language: str = "en",
        device: str = "auto",
    ):
        from transformers import AutoConfig

        reference = model_reference(model, self.ENV_VAR)
        config = load_pretrained(AutoConfig.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.languages = [languages.normalize(language)]
        self.model_type = config.model_type
        if self.model_type == "speecht5":
            self._load_speecht5(reference, vocoder, speaker_embeddings)
        elif self.model_type == "vits":
            self._load_vits(reference)
        else:
            raise ConfigurationError(f"unsupported TTS model type {self.model_type!r}: use SpeechT5 or VITS/MMS")

    def _load_speecht5(self, reference: str, vocoder: str | None, speaker_embeddings: str | None) -> None:
        import torch
        from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Processor

        key = "model"
        # SpeechT5 or VITS (_load_vits): one of two model families, so typed loosely
        self.processor: Any = load_pretrained(SpeechT5Processor.from_pretrained, reference, key, self.ENV_VAR)
        self.model: Any = load_pretrained(SpeechT5ForTextToSpeech.from_pretrained, reference, key, self.ENV_VAR)
        vocoder = vocoder or os.environ.get(self.VOCODER_ENV_VAR)
        if not vocoder:  # SpeechT5 alone makes spectrograms, not audio
            raise ModelNotFoundError(
                "SpeechT5 needs a vocoder: set `with: backend_options: vocoder: ID_OR_DIRECTORY` "
                f"(a SpeechT5HifiGan, e.g. microsoft/speecht5_hifigan) or {self.VOCODER_ENV_VAR}"
            )
        self.vocoder = load_pretrained(SpeechT5HifiGan.from_pretrained, vocoder, "vocoder", self.VOCODER_ENV_VAR)
        self.vocoder.to(self.device).eval()  # type: ignore[arg-type]  # transformers stubs: to() wrapped as if it took a model
        self.sample_rate = int(self.vocoder.config.sampling_rate)
        size = self.model.config.speaker_embedding_dim
        if speaker_embeddings:
            embedding = np.load(speaker_embeddings).astype(np.float32).reshape(-1)
            if embedding.size != size:
                raise ConfigurationError(
                    f"speaker_embeddings {speaker_embeddings!r} has {embedding.size} values; the model needs {size}"
                )
        else:
            embedding = np.zeros(size, dtype=np.float32)
        self.speaker = torch.from_numpy(embedding)[None].to(self.device)
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers stubs: to() wrapped as if it took a model

    def _load_vits(self, reference: str) -> None:
        from transformers import AutoTokenizer, VitsModel

        key = "model"
        self.processor = load_pretrained(AutoTokenizer.from_pretrained, reference, key, self.ENV_VAR)
        self.model = load_pretrained(VitsModel.from_pretrained, reference, key, self.ENV_VAR)
        self.model.to(self.device).eval()  # type: ignore[arg-type]  # transformers stubs: to() wrapped as if it took a model
        self.sample_rate = int(self.model.config.sampling_rate)

    def check_language(self, language: str) -> None:
        languages.require_listed(language, self.languages, "this speech model")

    def speak(self, text: str, language: str) -> tuple[np.ndarray, int]:
        import torch

        inputs = self.processor(text=text, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            if self.model_type == "speecht5":
                waveform = self.model.generate_speech(inputs["input_ids"], self.speaker, vocoder=self.vocoder)
            else:
                waveform = self.model(**inputs).waveform[0]
        return waveform.float().cpu().numpy().reshape(-1), self.sample_rate
