"""Input files are typed by their bytes; outputs are written by what the Flow produced."""

import io
import wave

import numpy as np
from docarray import DocList

from transmodal.docs import GeneratedImage, MediaDoc
from transmodal.files import fingerprint, kind_of, read_input, unique_name, write_outputs
from transmodal.media import encode_image


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(np.zeros(1600, dtype=np.int16).tobytes())
    return buffer.getvalue()


def test_kind_is_sniffed_from_content_not_the_extension(tmp_path):
    png = encode_image(np.zeros((4, 4, 3), np.uint8))
    assert kind_of(png, "photo.txt") == "image"
    assert kind_of(wav_bytes(), "speech.png") == "audio"
    assert kind_of("¿Dónde está?".encode(), "note.bin") == "text"
    assert kind_of(b"\xff\xfe\x00garbage\x9c", "x") == "image"  # unknown binary: the image decoder explains
    path = tmp_path / "speech.dat"
    path.write_bytes(wav_bytes())
    doc = read_input(str(path))
    assert doc.audio is not None and doc.image is None and doc.name == "speech.dat"


def test_outputs_are_written_by_type_and_pass_through_inputs_are_not(tmp_path):
    image = encode_image(np.zeros((4, 4, 3), np.uint8))
    read_aloud = MediaDoc(image=image, audio=wav_bytes(), text="Hot soup", translation="Sopa caliente", name="sign.png")
    written = write_outputs(read_aloud, str(tmp_path), input_fingerprint=fingerprint(image))
    assert [p.split("/")[-1] for p in written] == ["sign.wav"]

    translated_text = MediaDoc(text="Hot soup", translation="Sopa caliente", name="note.txt")
    (path,) = write_outputs(translated_text, str(tmp_path / "text"))
    assert open(path, encoding="utf-8").read() == "Sopa caliente"

    described_in_phones = MediaDoc(image=image, phones="r 'E d", name="red.png")  # a captioner's phones, unsaid
    (path,) = write_outputs(described_in_phones, str(tmp_path / "phones"), input_fingerprint=fingerprint(image))
    assert path.endswith("red.phones.txt") and open(path, encoding="utf-8").read() == "r 'E d"

    generated = MediaDoc(
        audio=wav_bytes(),
        image=image,
        name="request.wav",
        images=DocList[GeneratedImage]([GeneratedImage(image=image, seed=1), GeneratedImage(image=image, seed=2)]),
    )
    written = write_outputs(generated, str(tmp_path / "gen"), input_fingerprint=fingerprint(wav_bytes()))
    assert sorted(p.split("/")[-1] for p in written) == ["request-1.png", "request.png"]


def test_png_encoding_is_lossless_and_keeps_the_colour_order():
    from transmodal.media import decode_image

    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    pixels[:, :10] = (250, 10, 10)  # red stays red (OpenCV writes BGR)
    png = encode_image(pixels)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and np.array_equal(decode_image(png), pixels)
    assert encode_image(pixels) == png  # the same pixels, the same bytes


def test_base64_text_from_json_clients_decodes_like_the_file_itself():
    import base64

    from transmodal.audio import decode_audio
    from transmodal.media import decode_image, unwrap_base64

    png = encode_image(np.full((3, 5, 3), 200, np.uint8))
    assert decode_image(base64.b64encode(png)).shape == (3, 5, 3)
    samples, rate = decode_audio(base64.b64encode(wav_bytes_with_tone()))
    assert rate == 16000 and len(samples) == 1600
    assert unwrap_base64(b"aGVsbG8gd29ybGQ=") == b"aGVsbG8gd29ybGQ="  # base64, but not of a media file
    assert unwrap_base64(png) == png


def wav_bytes_with_tone() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        tone = (8000 * np.sin(np.arange(1600) * 2 * np.pi * 440 / 16000)).astype(np.int16)
        file.writeframes(tone.tobytes())
    return buffer.getvalue()


def test_inputs_with_the_same_stem_get_distinct_output_names():
    seen: dict[str, int] = {}
    names = [unique_name(name, seen) for name in ("sign.png", "sign.jpg", "menu.png", "sign.png")]
    assert names == ["sign.png", "sign-2.jpg", "menu.png", "sign-3.png"]
