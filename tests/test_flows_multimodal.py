"""The flows of flows/, each a YAML swap of executors, run as real Flows on loopback.

read-aloud and speech-to-speech run on the offline engines; speech-to-image and image-to-speech run on tiny
models the tests build, pointed at by the same environment variables a deployment would set.
"""

import io
import os

import numpy as np
import pytest
import soundfile
from docarray import DocList
from PIL import Image
from tiny_models import build_tiny_blip, build_tiny_stable_diffusion, flite_wav, picture

from executors.speech_recognizer.executor import SpeechRecognizer
from transmodal import strips
from transmodal.client import TransmodalClient
from transmodal.docs import MediaDoc
from transmodal.flows import local_flow
from transmodal.media import encode_image
from transmodal.metrics import word_error_rate
from transmodal.synthetic import sign_set

pytestmark = pytest.mark.integration

FLOWS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flows")


def run_flow(name: str, docs: list[MediaDoc], parameters: dict | None = None) -> tuple:
    """Run flows/NAME (or the YAML at an absolute path) on `docs`: (report, {doc name: result})."""
    results = {}
    flow, host = local_flow(os.path.join(FLOWS, name))
    with flow:
        report = TransmodalClient(host).process(
            docs, parameters=parameters or {}, on_result=lambda doc: results.update({doc.name: doc})
        )
    return report, results


@pytest.fixture(scope="module")
def recognizer():
    # The measuring ear for flite's synthetic speech: pocketsphinx hears it with 2-4 % WER, while Whisper
    # hallucinates on clips of two or three synthetic words ("a red house" -> "Hooray, Tos!").
    return SpeechRecognizer(backend="pocketsphinx")


def transcribe(recognizer: SpeechRecognizer, wav: bytes) -> str:
    (doc,) = recognizer.recognize(DocList[MediaDoc]([MediaDoc(audio=wav, source_lang="en")]))
    assert doc.error is None, doc.error
    return doc.text


def duration(wav: bytes) -> float:
    samples, rate = soundfile.read(io.BytesIO(wav))
    return len(samples) / rate


def test_read_aloud_speaks_a_signs_text_so_a_recogniser_recovers_it(recognizer):
    signs = sign_set(4, seed=21)
    docs = [MediaDoc(image=encode_image(sign.image), name=f"sign{index}.png") for index, sign in enumerate(signs)]
    report, results = run_flow("read-aloud.yml", docs, {"source_lang": "en", "target_lang": "en"})
    assert report.ok, report.failures
    recalls = []
    for index, sign in enumerate(signs):
        doc = results[f"sign{index}.png"]
        assert doc.trace == ["TextDetector/rep-0", "TextTranslator/rep-0", "SpeechSynthesizer/rep-0"]
        heard = set(transcribe(recognizer, bytes(doc.audio)).lower().split())
        wanted = [word.lower() for word in sign.text.split()]
        recalls.append(sum(word in heard for word in wanted) / len(wanted))
    assert sum(recalls) / len(recalls) >= 0.8, recalls


def test_read_aloud_in_spanish_speaks_the_translation():
    sign = sign_set(1, seed=22)[0]
    report, results = run_flow(
        "read-aloud.yml",
        [MediaDoc(image=encode_image(sign.image), name="sign.png")],
        {"source_lang": "en", "target_lang": "es"},
    )
    assert report.ok, report.failures
    doc = results["sign.png"]
    assert doc.translation and doc.translation != doc.text
    assert 0.03 <= duration(bytes(doc.audio)) / len(doc.translation) <= 0.25


def test_speech_to_speech_turns_english_speech_into_spanish_speech(tmp_path, recognizer):
    wav = flite_wav("Good morning. The library is closed today.", tmp_path)
    report, results = run_flow(
        "speech-to-speech.yml", [MediaDoc(audio=wav, name="question.wav")], {"source_lang": "en", "target_lang": "es"}
    )
    assert report.ok, report.failures
    doc = results["question.wav"]
    assert word_error_rate("good morning the library is closed today", doc.text.lower()) <= 0.3
    assert "biblioteca" in doc.translation.lower()
    spoken = duration(bytes(doc.audio))
    assert 0.03 <= spoken / len(doc.translation) <= 0.25  # Spanish speech as long as its text, not the input
    assert bytes(doc.audio) != wav


def test_speech_to_speech_from_a_real_spanish_recording_detects_the_language_and_speaks_english(recognizer):
    # A voice talent reading one of Asterisk's Spanish prompts (Debian asterisk-core-sounds-es; `make test`
    # fetches it with the evaluation data): no source language given, Whisper detects it.
    from faster_whisper import decode_audio

    from evaluation import datasets

    datasets.require("asterisk-es")
    samples = decode_audio(datasets.path("asterisk-es", datasets.asterisk_clip("es", "invalid")), 16000)
    wav = io.BytesIO()
    soundfile.write(wav, samples, 16000, format="WAV", subtype="PCM_16")
    report, results = run_flow(
        "speech-to-speech.yml", [MediaDoc(audio=wav.getvalue(), name="invalid.wav")], {"target_lang": "en"}
    )
    assert report.ok, report.failures
    doc = results["invalid.wav"]
    assert doc.source_lang == "es" and doc.language_probability > 0.8 and doc.flags == []
    said = "lo siento esa es una extension invalida por favor intente de nuevo"  # the script (no accents)
    assert word_error_rate(said, _plain(doc.text)) <= 0.25, doc.text
    assert {"sorry", "extension", "again"} <= set(_plain(doc.translation).split()), doc.translation
    heard = transcribe(recognizer, bytes(doc.audio)).lower()  # English speech, heard by an English-only ear
    assert word_error_rate(_plain(doc.translation), heard) <= 0.35, (doc.translation, heard)


def _plain(text: str) -> str:
    """Lower case, no accents, no punctuation."""
    import unicodedata

    text = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def test_transcribe_streams_a_long_recording_back_in_order_piece_by_piece(tmp_path, capsys):
    # The five LibriVox clips of pocketsphinx-testdata (real read speech) as one 27 s recording, cut into
    # pieces of at most 10 s: the text comes back as it is recognised, in order, with times on the recording.
    from evaluation.speech_recognition import librivox, load, words
    from transmodal.cli import main
    from transmodal.metrics import word_error_rate as wer

    clips = librivox()
    pause = np.zeros(8000, np.float32)
    recording = np.concatenate([np.concatenate([load(path), pause]) for path, _ in clips])
    path = tmp_path / "reading.wav"
    soundfile.write(str(path), recording, 16000, subtype="PCM_16")
    out = tmp_path / "out"
    assert main(["transcribe", str(path), "--chunk-seconds", "10", "--source", "en", "--out", str(out)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    times = [int(line[1:3]) * 60 + int(line[4:6]) for line in lines]
    assert len(lines) >= 3 and times == sorted(times) and times[-1] >= 15, lines
    heard = (out / "reading.txt").read_text()
    reference = " ".join(" ".join(clip_words) for _, clip_words in clips)
    assert wer(reference, " ".join(words(heard))) <= 0.15, heard
    subtitles = (out / "reading.srt").read_text()
    assert subtitles.startswith("1\n00:00:00,") and " --> " in subtitles


def test_bad_audio_fails_alone_and_speech_to_speech_keeps_serving(tmp_path):
    wav = flite_wav("Good morning.", tmp_path)
    docs = [
        MediaDoc(audio=b"RIFF....WAVEjunk", name="corrupt.wav"),
        MediaDoc(audio=b"", name="empty.wav"),
        MediaDoc(audio=wav, name="good.wav"),
    ]
    report, results = run_flow("speech-to-speech.yml", docs, {"source_lang": "en", "target_lang": "es"})
    assert len(results) == 3
    assert results["corrupt.wav"].error_stage == "SpeechRecognizer"
    assert "empty" in results["empty.wav"].error
    assert results["good.wav"].error is None and results["good.wav"].audio is not None
    assert {failure.name for failure in report.failures} == {"corrupt.wav", "empty.wav"}


def with_backend(tmp_path, name: str, backend: str, instead_of: str) -> str:
    """flows/NAME with one executor's backend swapped, as a user with weights would swap it."""
    text = open(os.path.join(FLOWS, name)).read()
    assert f"uses_with: {{backend: {instead_of}}}" in text
    text = text.replace(f"uses_with: {{backend: {instead_of}}}", f"uses_with: {{backend: {backend}}}")
    path = tmp_path / name
    path.write_text(text.replace("../executors/", os.path.join(os.path.dirname(FLOWS), "executors") + "/"))
    return str(path)


def test_direct_speech_to_image_runs_offline_from_the_speech_alone(tmp_path):
    # The speech encoder's hearing and the generator's drawing are measured in training/scenes; here: the
    # flow serves speech, no text in the middle, images as asked.
    docs = [
        MediaDoc(audio=flite_wav("A big red circle.", tmp_path), name="red.wav"),
        MediaDoc(audio=b"", name="empty.wav"),
    ]
    report, results = run_flow("speech-to-image-direct.yml", docs, {"seed": 1, "num_images": 2})
    doc = results["red.wav"]
    assert doc.error is None and doc.trace == ["ImageGenerator/rep-0"] and not doc.text
    assert [generated.seed for generated in doc.images] == [1, 2]
    assert Image.open(io.BytesIO(bytes(doc.image))).size == (128, 128)
    assert results["empty.wav"].error_stage == "ImageGenerator" and "empty" in results["empty.wav"].error
    assert [failure.name for failure in report.failures] == ["empty.wav"]


def test_speech_to_image_draws_what_was_said_offline_by_default(tmp_path):
    from training.scenes import world

    wav = flite_wav("A big red circle.", tmp_path)
    report, results = run_flow("speech-to-image.yml", [MediaDoc(audio=wav, name="red.wav")], {"seed": 3})
    assert report.ok, report.failures
    doc = results["red.wav"]
    assert "red circle" in doc.text.lower() and doc.trace == ["SpeechRecognizer/rep-0", "ImageGenerator/rep-0"]
    pixels = np.asarray(Image.open(io.BytesIO(bytes(doc.image))).convert("RGB"), float)
    centre = pixels[54:74, 54:74].reshape(-1, 3).mean(0)  # a lone thing stands in the middle (moved <= 5 %)
    assert np.abs(centre - world.COLOURS["red"]).max() < 40, centre


def test_speech_to_image_generates_images_from_what_was_said(tmp_path, monkeypatch):
    model_dir = str(tmp_path / "tiny-sd")
    build_tiny_stable_diffusion(model_dir)
    monkeypatch.setenv("TRANSMODAL_IMAGE_MODEL", model_dir)  # inherited by the executor processes
    wav = flite_wav("A red house by the sea.", tmp_path)
    report, results = run_flow(
        with_backend(tmp_path, "speech-to-image.yml", "diffusers", instead_of="scenes"),
        [MediaDoc(audio=wav, name="request.wav")],
        {"num_images": 2, "steps": 2, "seed": 3},
    )
    assert report.ok, report.failures
    doc = results["request.wav"]
    assert "house" in doc.text.lower()
    assert [generated.seed for generated in doc.images] == [3, 4]
    assert Image.open(io.BytesIO(bytes(doc.image))).size == (64, 64)


def test_image_to_speech_describes_a_scene_aloud_offline(recognizer):
    from training.scenes import world

    scene = world.Scene((world.Thing("circle", "red", "big", 0.5, 0.3, 0.34, 0),), None, "grey", 5)
    report, results = run_flow(
        "image-to-speech.yml", [MediaDoc(image=encode_image(world.render(scene, 128)), name="red.png")]
    )
    assert report.ok, report.failures
    doc = results["red.png"]
    assert doc.text == "a big red circle"
    assert "red" in transcribe(recognizer, bytes(doc.audio)).lower().split()


def test_image_to_speech_in_phones_says_a_scene_with_no_words_in_between():
    from training.scenes import world
    from transmodal.phones import phonemes

    scene = world.Scene((world.Thing("circle", "red", "big", 0.5, 0.3, 0.34, 0),), None, "grey", 5)
    report, results = run_flow(
        "image-to-speech-phones.yml", [MediaDoc(image=encode_image(world.render(scene, 128)), name="red.png")]
    )
    assert report.ok, report.failures
    doc = results["red.png"]
    assert doc.trace == ["ImageCaptioner/rep-0", "SpeechSynthesizer/rep-0"]
    assert doc.text is None and doc.phones == phonemes(["a big red circle"])[0]
    assert doc.sample_rate == 22_050 and 0.5 < duration(bytes(doc.audio)) < 3  # espeak-ng said the phones


def test_image_to_speech_with_a_transformers_captioner(tmp_path, monkeypatch, recognizer):
    model_dir = str(tmp_path / "tiny-blip")
    build_tiny_blip(model_dir)  # trained to say "a red house" for red pictures
    monkeypatch.setenv("TRANSMODAL_CAPTION_MODEL", model_dir)
    report, results = run_flow(
        with_backend(tmp_path, "image-to-speech.yml", "transformers", instead_of="scenes"),
        [MediaDoc(image=encode_image(picture("red", 7)), name="red.png")],
    )
    assert report.ok, report.failures
    doc = results["red.png"]
    assert doc.text == "a red house"
    assert "red" in transcribe(recognizer, bytes(doc.audio)).lower().split()  # three words: ASR gets the colour


def test_the_pixel_translation_flow_translates_a_strip_and_keeps_serving_after_a_bad_image():
    import torch

    # The parent has used torch's thread pool (as in-process tests do): the forked executor still comes up
    # (it hung on its first parallel operation before the backend set one thread).
    torch.set_num_threads(2)
    assert (torch.randn(256, 256) @ torch.randn(256, 256)).shape == (256, 256)
    ink = strips.render("Turn left at the bank")
    strip = np.repeat(((1 - ink) * 255).astype(np.uint8)[..., None], 3, axis=2)
    strip = np.pad(strip, ((20, 20), (15, 15), (0, 0)), constant_values=255)
    docs = [
        MediaDoc(image=encode_image(strip), name="strip.png", source_lang="en", target_lang="es"),
        MediaDoc(image=b"not an image", name="bad.png"),
        MediaDoc(image=encode_image(strip), name="french.png", source_lang="en", target_lang="fr"),
    ]
    report, results = run_flow("pixel-translation.yml", docs)
    doc = results["strip.png"]
    assert doc.error is None and doc.trace == ["TextDetector/rep-0", "PixelTranslator/rep-0"]
    drawn = np.asarray(Image.open(io.BytesIO(bytes(doc.image))).convert("RGB"))
    assert drawn.shape == strip.shape and not np.array_equal(drawn, strip)
    assert doc.regions and all(region.drawn_box for region in doc.regions)
    assert results["bad.png"].error_stage == "TextDetector"
    assert results["french.png"].error_stage == "PixelTranslator" and "en -> es only" in results["french.png"].error
    assert sorted(failure.name for failure in report.failures) == ["bad.png", "french.png"]
