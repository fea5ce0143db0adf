"""SpeechSynthesizer: a document's final text becomes WAV audio in its language; bad text fails only its
document."""

import io

import numpy as np
import pytest
import soundfile
from docarray import DocList
from tiny_models import VOCODER_RATE, build_tiny_speecht5

from executors.speech_recognizer.executor import SpeechRecognizer
from executors.speech_synthesizer.backends import FliteSynthesizer
from executors.speech_synthesizer.executor import SpeechSynthesizer, split_sentences
from transmodal.docs import MediaDoc
from transmodal.errors import ConfigurationError, ModelNotFoundError
from transmodal.metrics import word_error_rate

ENGLISH = "Please open the window before the meeting starts. The library is closed on Sunday afternoon."
SPANISH = "La biblioteca está cerrada el domingo por la tarde. Necesitamos tres billetes para el tren."


@pytest.fixture(scope="module")
def auto_synthesizer():
    return SpeechSynthesizer(backend="auto")


def synthesize(synthesizer, *docs, parameters=None):
    return synthesizer.synthesize(DocList[MediaDoc](list(docs)), parameters=parameters)


def wav_info(doc: MediaDoc):
    return soundfile.info(io.BytesIO(bytes(doc.audio)))


def test_flite_english_round_trips_through_pocketsphinx(auto_synthesizer):
    (doc,) = synthesize(auto_synthesizer, MediaDoc(text=ENGLISH, source_lang="en"))
    assert doc.error is None and doc.trace == ["SpeechSynthesizer"]
    assert doc.sample_rate == wav_info(doc).samplerate == 16_000  # flite's slt voice
    (heard,) = SpeechRecognizer(backend="pocketsphinx").recognize(DocList[MediaDoc]([MediaDoc(audio=doc.audio)]))
    assert word_error_rate(ENGLISH, heard.text) < 0.15, heard.text  # measured: 0 %


def test_spanish_translation_is_spoken_by_espeak_ng_at_a_plausible_length(auto_synthesizer):
    doc = MediaDoc(text="The library is closed", translation=SPANISH, source_lang="en", target_lang="es")
    (doc,) = synthesize(auto_synthesizer, doc)
    assert doc.error is None
    info = wav_info(doc)
    assert doc.sample_rate == info.samplerate == 22_050  # espeak-ng, not flite: the translation is Spanish
    seconds_per_character = info.duration / len(SPANISH)
    assert 0.03 < seconds_per_character < 0.25, seconds_per_character  # measured: 0.07
    samples, _ = soundfile.read(io.BytesIO(bytes(doc.audio)))
    assert np.abs(samples).max() > 0.1  # speech, not silence


def test_language_falls_back_to_request_parameters_then_executor_default(auto_synthesizer):
    (german,) = synthesize(auto_synthesizer, MediaDoc(text="Guten Morgen"), parameters={"source_lang": "de"})
    assert german.error is None and german.sample_rate == 22_050  # espeak-ng German
    (default,) = synthesize(auto_synthesizer, MediaDoc(text="Good morning"))
    assert default.sample_rate == 16_000  # `with: language: en` -> flite


def test_long_text_is_spoken_sentence_by_sentence_with_pauses(monkeypatch):
    spoken = []
    original = FliteSynthesizer.speak

    def recording_speak(self, text, language):
        spoken.append(text)
        return original(self, text, language)

    monkeypatch.setattr(FliteSynthesizer, "speak", recording_speak)
    synthesizer = SpeechSynthesizer(backend="flite", pause_seconds=0.5)
    (doc,) = synthesize(synthesizer, MediaDoc(text="Hot soup. Cold drinks!\nFish market? Open every day"))
    assert spoken == ["Hot soup.", "Cold drinks!", "Fish market?", "Open every day"]
    assert wav_info(doc).duration > 3 * 0.5  # three pauses between four sentences


def test_an_over_long_sentence_is_cut_between_words():
    sentence = " ".join(["word"] * 300)
    pieces = split_sentences(sentence, max_characters=100)
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces) == sentence


@pytest.mark.parametrize("voice, rate", [("awb", 16_000), ("kal16", 16_000), ("kal", 8_000)])
def test_each_flite_voice_writes_its_own_sample_rate(voice, rate):
    (doc,) = synthesize(SpeechSynthesizer(backend="flite", backend_options={"voice": voice}), MediaDoc(text="Hello"))
    assert doc.error is None and doc.sample_rate == wav_info(doc).samplerate == rate


def test_bad_text_fails_only_its_document(auto_synthesizer):
    docs = synthesize(
        auto_synthesizer,
        MediaDoc(text=""),
        MediaDoc(text="   \n "),
        MediaDoc(image=b"\x89PNG"),  # no text at all
        MediaDoc(text="Hello", source_lang="xx"),
        MediaDoc(text="Ola", source_lang="gl"),  # a known code that espeak-ng has no voice for
        MediaDoc(text="Hello"),
    )
    errors = [doc.error for doc in docs]
    assert "no text to speak" in errors[0] and "no text to speak" in errors[1] and "no text to speak" in errors[2]
    assert "unknown language code 'xx'" in errors[3]
    assert "cannot handle 'gl'" in errors[4] and "en, " in errors[4]  # lists what it can speak
    assert all(doc.error_stage == "SpeechSynthesizer" and doc.audio is None for doc in docs[:5])
    assert errors[5] is None and docs[5].audio is not None


def test_too_long_text_and_languages_flite_cannot_speak_are_refused():
    synthesizer = SpeechSynthesizer(backend="flite", max_characters=50)
    too_long, spanish = synthesize(synthesizer, MediaDoc(text="word " * 20), MediaDoc(text="Hola", source_lang="es"))
    assert "text too long to speak: 100 characters" in too_long.error
    assert "flite cannot handle 'es' (Spanish); it knows: en" in spanish.error


def test_unknown_flite_voice_lists_the_installed_ones():
    with pytest.raises(ConfigurationError, match="unknown flite voice 'nobody'; installed: .*slt"):
        SpeechSynthesizer(backend="flite", backend_options={"voice": "nobody"})


# --- transformers: a tiny random SpeechT5 + HiFi-GAN (tiny_models.build_tiny_speecht5) ----------------------


@pytest.fixture(scope="module")
def tiny_speecht5(tmp_path_factory) -> tuple[str, str]:
    return build_tiny_speecht5(str(tmp_path_factory.mktemp("tiny-speecht5")))


@pytest.mark.slow  # builds the tiny SpeechT5
def test_speecht5_with_vocoder_writes_wav_at_the_vocoders_rate(tiny_speecht5, tmp_path):
    model_dir, vocoder_dir = tiny_speecht5
    speaker = tmp_path / "speaker.npy"
    np.save(speaker, np.full(8, 0.1, dtype=np.float32))
    synthesizer = SpeechSynthesizer(
        backend="transformers",
        backend_options={
            "model": model_dir,
            "vocoder": vocoder_dir,
            "speaker_embeddings": str(speaker),
            "device": "cpu",
        },
    )
    spoken, spanish = synthesize(
        synthesizer, MediaDoc(text="hello world. good morning"), MediaDoc(text="hola", source_lang="es")
    )
    assert spoken.error is None
    info = wav_info(spoken)
    assert spoken.sample_rate == info.samplerate == VOCODER_RATE
    assert info.frames > 0
    assert "cannot handle 'es' (Spanish); it knows: en" in spanish.error  # the model's declared language


@pytest.mark.slow  # builds the tiny SpeechT5
def test_speecht5_vocoder_from_environment_and_bad_speaker_embeddings(tiny_speecht5, tmp_path, monkeypatch):
    model_dir, vocoder_dir = tiny_speecht5
    monkeypatch.setenv("TRANSMODAL_TTS_MODEL", model_dir)
    monkeypatch.setenv("TRANSMODAL_TTS_VOCODER", vocoder_dir)
    (doc,) = synthesize(SpeechSynthesizer(backend="transformers"), MediaDoc(text="hello"))
    assert doc.error is None and doc.sample_rate == VOCODER_RATE
    wrong_size = tmp_path / "speaker.npy"
    np.save(wrong_size, np.zeros(512, dtype=np.float32))
    with pytest.raises(ConfigurationError, match="has 512 values; the model needs 8"):
        SpeechSynthesizer(backend="transformers", backend_options={"speaker_embeddings": str(wrong_size)})


@pytest.mark.slow  # builds the tiny SpeechT5
def test_speecht5_without_a_vocoder_fails_fast_naming_what_to_set(tiny_speecht5, monkeypatch):
    monkeypatch.delenv("TRANSMODAL_TTS_VOCODER", raising=False)
    with pytest.raises(ModelNotFoundError, match="vocoder: ID_OR_DIRECTORY.*TRANSMODAL_TTS_VOCODER"):
        SpeechSynthesizer(backend="transformers", backend_options={"model": tiny_speecht5[0]})
    with pytest.raises(ModelNotFoundError, match=r"with: backend_options: \{vocoder: .*TRANSMODAL_TTS_VOCODER"):
        SpeechSynthesizer(backend="transformers", backend_options={"model": tiny_speecht5[0], "vocoder": "/missing"})


# --- phones: a description with no writing (transmodal.phones), said through espeak-ng's phoneme input ------


def test_phones_are_said_by_espeak_ng_as_long_as_the_words_they_come_from(auto_synthesizer):
    from transmodal.phones import phonemes

    sentence = "the library is closed on sunday afternoon"
    (phones,) = phonemes([sentence])
    said, read = synthesize(
        auto_synthesizer,
        MediaDoc(phones=phones, source_lang="en", name="phones"),
        MediaDoc(text=sentence, source_lang="es", name="words"),  # espeak-ng too (flite speaks only English)
    )
    assert said.error is None and said.sample_rate == 22_050  # espeak-ng, though the language is English
    said_seconds, read_seconds = wav_info(said).duration, wav_info(read).duration
    assert 0.6 < said_seconds / read_seconds < 1.6, (said_seconds, read_seconds)
    samples, _ = soundfile.read(io.BytesIO(bytes(said.audio)))
    assert np.abs(samples).max() > 0.1  # speech, not silence


def test_phones_a_backend_cannot_say_and_empty_phones_fail_only_their_document():
    flite = SpeechSynthesizer(backend="flite")
    cannot, hello = synthesize(flite, MediaDoc(phones="h @ l 'oU"), MediaDoc(text="Hello", phones="h @ l 'oU"))
    assert "the flite speech backend cannot say phones" in cannot.error and "espeak-ng or auto" in cannot.error
    assert cannot.error_stage == "SpeechSynthesizer"
    assert hello.error is None and hello.audio is not None  # text, when there is some, is what is spoken
    espeak = SpeechSynthesizer(backend="espeak-ng", max_characters=30)
    empty, bracket, too_long = synthesize(
        espeak, MediaDoc(phones="  "), MediaDoc(phones="h @ ]] l 'oU"), MediaDoc(phones="h @ l 'oU " * 5)
    )
    assert "no phones to speak" in empty.error and empty.error_stage == "SpeechSynthesizer"
    assert "may not contain brackets" in bracket.error
    assert "phones too long to speak: 50 characters" in too_long.error
