"""The faster-whisper backend on the real Whisper base model `make install` assembles (there is no tiny
random CTranslate2 Whisper to build offline, so the real model is the test), on real read speech:
LibriVox clips with transcripts from Debian's pocketsphinx-testdata (scripts/install-system.sh)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import soundfile
from docarray import DocList

from executors.speech_recognizer.backends import RECOGNIZERS, SAMPLE_RATE
from executors.speech_recognizer.executor import SpeechRecognizer
from transmodal import model_store
from transmodal.docs import MediaDoc
from transmodal.errors import ModelNotFoundError
from transmodal.metrics import word_error_rate

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"
CLIP = "sense_and_sensibility_01_austen_64kb-0870"
CLIP_TEXT = (
    "and mister john dashwood had then leisure to consider how much there might be prudently in his power "
    "to do for them"
)


def normalized(text: str) -> str:
    """Lower case, no punctuation, "Mr." spelled as the LibriVox transcripts spell it."""
    words = text.lower().replace("mr.", "mister").replace("mrs.", "missus")
    return " ".join("".join(c for c in words if c.isalnum() or c in " '").split())


@pytest.fixture(scope="module")
def model_dir() -> str:
    try:
        return str(model_store.installed("whisper-base"))
    except ModelNotFoundError as missing:
        pytest.skip(f"Whisper base is not installed, so the faster-whisper tests cannot run: {missing}")


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    path = os.path.join(LIBRIVOX, CLIP + ".wav")
    if not os.path.isfile(path):
        pytest.skip(f"{path} missing: install Debian's pocketsphinx-testdata (scripts/install-system.sh)")
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == SAMPLE_RATE
    return samples


@pytest.fixture(scope="module")
def recognizer(model_dir):
    return RECOGNIZERS.create("faster-whisper")  # the default model name, found in the models folder


def test_a_real_recording_is_transcribed_word_for_word_detecting_english(recognizer, clip):
    transcript = recognizer.transcribe(clip, None)
    assert word_error_rate(CLIP_TEXT, normalized(transcript.text)) <= 0.05, transcript.text
    assert transcript.language == "en" and transcript.language_probability > 0.9
    assert transcript.translated_to is None
    assert transcript.segments and transcript.segments[0][0] >= 0.0
    assert transcript.segments[-1][1] <= len(clip) / SAMPLE_RATE + 0.05
    assert " ".join(text for _, _, text in transcript.segments) == transcript.text


def test_vad_skips_silence_around_the_speech_and_keeps_segment_times_on_the_recording(model_dir, clip):
    recognizer = RECOGNIZERS.create("faster-whisper", model=model_dir, vad=True)
    silence = np.zeros(5 * SAMPLE_RATE, dtype=np.float32)
    transcript = recognizer.transcribe(np.concatenate([silence, clip, silence]), "en")
    assert word_error_rate(CLIP_TEXT, normalized(transcript.text)) <= 0.1, transcript.text
    assert transcript.language_probability is None  # the language was given, not detected
    assert transcript.segments[0][0] >= 4.0  # times are on the padded recording, not the trimmed one


def test_the_default_executor_writes_text_language_and_segments(model_dir, clip):
    (doc,) = SpeechRecognizer().recognize(
        DocList[MediaDoc]([MediaDoc(samples=clip.tolist(), sample_rate=SAMPLE_RATE)]), parameters={}
    )
    assert doc.error is None and doc.source_lang == "en" and doc.segments
    assert word_error_rate(CLIP_TEXT, normalized(doc.text)) <= 0.05, doc.text


def test_translate_task_marks_the_result_english(model_dir, clip):
    transcript = RECOGNIZERS.create("faster-whisper", model=model_dir, task="translate").transcribe(clip, "en")
    assert transcript.translated_to == "en" and "dashwood" in transcript.text.lower()


def test_an_unknown_language_hint_fails_only_that_call(recognizer):
    from transmodal.errors import UnsupportedLanguageError

    with pytest.raises(UnsupportedLanguageError, match="does not know 'xx'"):
        recognizer.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32), "xx")


# --- bad audio: a result or a clear error on that document, never a hang ----------------------------------


def _recognize(**fields) -> MediaDoc:
    (doc,) = SpeechRecognizer().recognize(DocList[MediaDoc]([MediaDoc(**fields)]), parameters={})
    return doc


def _wav(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    import io

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_noise_and_music_fail_as_no_speech_rather_than_passing_empty_text_on(model_dir):
    seconds = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    chord = 0.3 * np.sin(2 * np.pi * 440 * seconds) + 0.2 * np.sin(2 * np.pi * 660 * seconds)
    noise = 0.3 * np.random.default_rng(0).standard_normal(4 * SAMPLE_RATE)
    for name, samples in (("noise", noise), ("chord", chord)):
        doc = _recognize(audio=_wav(samples.astype(np.float32)), name=name)
        assert doc.error_stage == "SpeechRecognizer" and "no speech found" in doc.error, (name, doc.error, doc.text)


def test_clipped_and_8khz_telephone_speech_are_still_transcribed(model_dir, clip):
    import scipy.signal

    clipped = np.clip(clip * 8, -1, 1)
    telephone = scipy.signal.resample_poly(clip, 8000, SAMPLE_RATE).astype(np.float32)
    for name, audio in (("clipped", _wav(clipped)), ("telephone", _wav(telephone, 8000))):
        doc = _recognize(audio=audio, name=name)
        assert doc.error is None, doc.error
        assert word_error_rate(CLIP_TEXT, normalized(doc.text)) <= 0.15, (name, doc.text)
        assert doc.source_lang == "en" and doc.language_probability > 0.9 and doc.flags == []


def test_a_wrong_language_hint_gives_a_result_flagged_with_the_language_heard(model_dir, clip):
    doc = _recognize(samples=clip.tolist(), sample_rate=SAMPLE_RATE, source_lang="es")
    assert doc.error is None and doc.source_lang == "es"
    (flag,) = doc.flags
    assert flag.startswith("SpeechRecognizer: the speech sounds like English (en)") and "Spanish (es) given" in flag


def test_an_hour_long_recording_is_refused_from_its_header_before_decoding(model_dir):
    import io

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(SAMPLE_RATE * 3700, np.int16), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    doc = _recognize(audio=buffer.getvalue(), name="hour.wav")
    assert doc.error_stage == "SpeechRecognizer" and "audio too long: 3700.0 s" in doc.error


# --- the models folder ---------------------------------------------------------------------------------------


def test_a_model_not_installed_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSMODAL_MODELS", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="make install") as missing:
        RECOGNIZERS.create("faster-whisper")
    assert str(tmp_path) in str(missing.value)


def test_an_optional_model_not_installed_names_its_own_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSMODAL_MODELS", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="python -m transmodal.model_store install whisper-tiny.en"):
        RECOGNIZERS.create("faster-whisper", model="whisper-tiny.en")


def test_a_second_install_downloads_nothing(model_dir, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError(f"downloaded again: {args}")

    monkeypatch.setattr(subprocess, "run", no_download)
    assert str(model_store.install("whisper-base", quiet=True)) == model_dir


def test_the_installed_model_matches_the_pinned_hashes(model_dir):
    assert model_store.verify("whisper-base") == []
