"""SpeechRecognizer: speech in any container or sample rate becomes text with timed segments; bad audio
fails only its own document."""

import io
import os

import numpy as np
import pytest
import soundfile
from docarray import DocList
from tiny_models import WHISPER_LANGUAGES, build_tiny_transformers_whisper, build_tiny_whisper_checkpoint, flite_wav

from executors.speech_recognizer.executor import SpeechRecognizer
from transmodal.audio import decode_audio, encode_wav, resample
from transmodal.docs import MediaDoc
from transmodal.errors import ModelNotFoundError
from transmodal.metrics import word_error_rate

SENTENCES = [
    "Please open the window before the meeting starts.",
    "We need three tickets for the train to London.",
    "The library is closed on Sunday afternoon.",
]
SPEECH = " ".join(SENTENCES)


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> bytes:
    return flite_wav(SPEECH, tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="module")
def pocketsphinx_recognizer():
    return SpeechRecognizer(backend="pocketsphinx")


def recognize(recognizer, *docs, parameters=None):
    return recognizer.recognize(DocList[MediaDoc](list(docs)), parameters=parameters)


@pytest.fixture(scope="module")
def transcribed(pocketsphinx_recognizer, speech_wav) -> MediaDoc:
    """The speech transcribed once, for the tests that look at the transcript from different sides."""
    (doc,) = recognize(pocketsphinx_recognizer, MediaDoc(audio=speech_wav))
    return doc


def assert_well_formed_segments(doc: MediaDoc, duration: float) -> None:
    assert doc.segments, "no segments"
    previous_end = 0.0
    for segment in doc.segments:
        assert 0.0 <= segment.start < segment.end <= duration + 0.05, (segment.start, segment.end)
        assert segment.start >= previous_end - 0.05  # in order, not overlapping
        assert isinstance(segment.text, str)
        previous_end = segment.end


# --- pocketsphinx: the offline default -------------------------------------------------------------------


def test_flite_speech_is_transcribed_with_low_word_error_rate(transcribed):
    doc = transcribed
    assert doc.error is None
    # Measured: 4 % (one word of 24, "three" -> "free"); the bound leaves margin for other builds.
    assert word_error_rate(SPEECH, doc.text) < 0.15, doc.text
    assert doc.source_lang == "en"  # pocketsphinx's model language, written back
    assert doc.trace == ["SpeechRecognizer"]


def test_segments_are_timed_in_order_and_hold_the_transcript(transcribed, speech_wav):
    doc = transcribed
    duration = soundfile.info(io.BytesIO(speech_wav)).duration
    assert_well_formed_segments(doc, duration)
    assert len(doc.segments) >= 3  # flite pauses between sentences
    assert " ".join(segment.text for segment in doc.segments) == doc.text
    assert doc.segments[-1].end > duration / 2


@pytest.mark.slow
def test_flac_bytes_and_raw_samples_at_8_and_44_1_khz_are_accepted(pocketsphinx_recognizer, speech_wav):
    samples, rate = decode_audio(speech_wav)
    flac = io.BytesIO()
    soundfile.write(flac, samples, rate, format="FLAC")
    docs = recognize(
        pocketsphinx_recognizer,
        MediaDoc(audio=flac.getvalue()),
        MediaDoc(samples=resample(samples, rate, 44_100), sample_rate=44_100),
        MediaDoc(samples=resample(samples, rate, 8_000), sample_rate=8_000),
        MediaDoc(samples=(samples * 32767).astype(np.int16), sample_rate=rate),  # integer PCM
    )
    error_rates = [word_error_rate(SPEECH, doc.text) for doc in docs]
    # Measured: 4 %, 4 %, 17 % (8 kHz audio has lost everything above 4 kHz), 4 %.
    assert error_rates[0] < 0.15 and error_rates[1] < 0.15 and error_rates[3] < 0.15, error_rates
    assert error_rates[2] < 0.4, error_rates


def test_bad_audio_fails_only_its_document_and_the_next_is_transcribed(pocketsphinx_recognizer, speech_wav):
    silence = encode_wav(np.zeros(16_000, dtype=np.float32), 16_000)
    nan_samples = np.full(16_000, np.nan, dtype=np.float32)
    docs = recognize(
        pocketsphinx_recognizer,
        MediaDoc(audio=b""),
        MediaDoc(audio=b"RIFF\x00\x00\x00\x00WAVEnot really a wav file"),
        MediaDoc(samples=nan_samples, sample_rate=16_000),
        MediaDoc(audio=silence),
        MediaDoc(samples=np.ones(16_000, dtype=np.float32) * 0.1),  # no sample_rate
        MediaDoc(samples=np.ones(100, dtype=np.float32) * 0.1, sample_rate=100),
        MediaDoc(text="no audio at all"),
        MediaDoc(audio=speech_wav, source_lang="es"),
        MediaDoc(audio=speech_wav, source_lang="xx"),
        MediaDoc(audio=speech_wav),
    )
    errors = [doc.error for doc in docs]
    assert "empty audio" in errors[0]
    assert "cannot decode audio" in errors[1]
    assert "NaN or infinite" in errors[2]
    assert "silent audio" in errors[3]
    assert "without sample_rate" in errors[4]
    assert "implausible sample rate 100 Hz" in errors[5]
    assert "neither audio bytes nor samples" in errors[6]
    assert "configured for 'en' only, not 'es'" in errors[7]
    assert "unknown source language code 'xx'" in errors[8]
    assert all(doc.error_stage == "SpeechRecognizer" for doc in docs[:9])
    assert all(doc.text is None for doc in docs[:6])
    assert errors[9] is None and word_error_rate(SPEECH, docs[9].text) < 0.15


def test_audio_longer_than_max_seconds_is_refused_before_decoding(speech_wav, monkeypatch):
    recognizer = SpeechRecognizer(backend="pocketsphinx", max_seconds=2)
    samples, rate = decode_audio(speech_wav)
    decoded = []
    original_read = soundfile.SoundFile.read

    def recording_read(self, *args, **kwargs):
        decoded.append(self.frames)
        return original_read(self, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", recording_read)
    docs = recognize(
        recognizer,
        MediaDoc(audio=speech_wav),
        MediaDoc(samples=samples, sample_rate=rate),
        MediaDoc(audio=encode_wav(samples[:rate], rate)),
    )
    assert "audio too long" in docs[0].error and "limit of 2 s" in docs[0].error
    assert "audio too long" in docs[1].error
    assert docs[2].error is None  # one second is within the limit
    assert decoded == [rate]  # only the one-second file was decoded; the long one was judged by its header


def test_language_comes_from_request_parameters_when_documents_have_none(pocketsphinx_recognizer, speech_wav):
    docs = recognize(pocketsphinx_recognizer, MediaDoc(audio=speech_wav), parameters={"source_lang": "de"})
    assert "not 'de'" in docs[0].error


# --- openai-whisper: a tiny random checkpoint, loaded through the backend's own path ----------------------


@pytest.fixture(scope="module")
def tiny_whisper_checkpoint(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tiny-whisper") / "tiny-random.pt")
    build_tiny_whisper_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def two_seconds_of_speech(tmp_path_factory) -> bytes:
    wav = flite_wav("Good morning.", tmp_path_factory.mktemp("short"))
    samples, rate = decode_audio(wav)
    return encode_wav(np.pad(samples, (0, max(0, 2 * rate - len(samples))))[: 2 * rate], rate)


def test_whisper_checkpoint_transcribes_detecting_or_taking_the_language(
    tiny_whisper_checkpoint, two_seconds_of_speech
):
    recognizer = SpeechRecognizer(
        backend="whisper", backend_options={"model": tiny_whisper_checkpoint, "device": "cpu", "max_tokens": 8}
    )
    detected, given = recognize(
        recognizer, MediaDoc(audio=two_seconds_of_speech), MediaDoc(audio=two_seconds_of_speech, source_lang="es")
    )
    for doc in (detected, given):
        assert doc.error is None
        assert isinstance(doc.text, str)  # random weights: the words are noise, the plumbing is not
        for segment in doc.segments:
            assert 0.0 <= segment.start <= segment.end and isinstance(segment.text, str)
    assert isinstance(detected.source_lang, str) and len(detected.source_lang) >= 2
    assert given.source_lang == "es"


def test_whisper_translate_task_writes_english_into_translation(tiny_whisper_checkpoint, two_seconds_of_speech):
    recognizer = SpeechRecognizer(
        backend="whisper",
        backend_options={"model": tiny_whisper_checkpoint, "device": "cpu", "max_tokens": 8, "task": "translate"},
    )
    (doc,) = recognize(recognizer, MediaDoc(audio=two_seconds_of_speech, source_lang="es"))
    assert doc.error is None
    assert isinstance(doc.translation, str) and doc.text is None
    assert doc.source_lang == "es" and doc.target_lang == "en"


def test_an_official_whisper_name_not_downloaded_is_refused_not_fetched(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSMODAL_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelNotFoundError, match=f"cannot load Whisper model 'tiny': it is not in {tmp_path}"):
        SpeechRecognizer(backend="whisper", backend_options={"model": "tiny", "download_root": str(tmp_path)})
    assert not os.listdir(tmp_path)


# --- transformers Whisper: a tiny random model and a processor built offline ------------------------------


@pytest.fixture(scope="module")
def tiny_transformers_whisper_dir(tmp_path_factory) -> str:
    directory = str(tmp_path_factory.mktemp("tiny-transformers-whisper"))
    build_tiny_transformers_whisper(directory)
    return directory


@pytest.mark.slow  # builds the tiny transformers Whisper
def test_transformers_whisper_loads_a_saved_model_and_transcribes(tiny_transformers_whisper_dir, two_seconds_of_speech):
    recognizer = SpeechRecognizer(
        backend="transformers",
        backend_options={"model": tiny_transformers_whisper_dir, "device": "cpu", "max_new_tokens": 8},
    )
    detected, given, unknown = recognize(
        recognizer,
        MediaDoc(audio=two_seconds_of_speech),
        MediaDoc(audio=two_seconds_of_speech, source_lang="de"),
        MediaDoc(audio=two_seconds_of_speech, source_lang="ja"),
    )
    for doc in (detected, given):
        assert doc.error is None and isinstance(doc.text, str)
        for segment in doc.segments:
            assert 0.0 <= segment.start <= segment.end <= 2.0 and segment.text
    assert detected.source_lang in WHISPER_LANGUAGES  # detected from the model's own language tokens
    assert given.source_lang == "de"
    assert "does not know 'ja'" in unknown.error and "en, es" in unknown.error


def test_a_long_recording_is_cut_at_its_pauses_into_pieces_no_longer_than_asked():
    from transmodal.audio import split_at_pauses

    rate = 16_000
    seconds = np.arange(5 * rate) / rate
    voiced = (0.3 * np.sin(2 * np.pi * 220 * seconds)).astype(np.float32)
    pause = np.zeros(rate // 2, np.float32)  # 5.0-5.5 s and 10.5-11.0 s
    recording = np.concatenate([voiced, pause, voiced, pause, voiced])
    pieces = split_at_pauses(recording, rate, max_seconds=8)
    assert [round(start, 2) for start, _ in pieces][0] == 0.0
    assert all(len(piece) <= 8 * rate for _, piece in pieces)
    for start, _ in pieces[1:]:  # every cut falls in a pause, not in the sound
        assert 5.0 <= start <= 5.5 or 10.5 <= start <= 11.0, start
    assert np.array_equal(np.concatenate([piece for _, piece in pieces]), recording)  # nothing lost or doubled
