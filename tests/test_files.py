"""Input files are typed by their bytes; outputs are written by what the Flow produced."""

import io
import wave

import numpy as np
from docarray import DocList

from transmodal.docs import GeneratedImage, MediaDoc
from transmodal.files import fingerprint, kind_of, read_input, write_outputs
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

    generated = MediaDoc(audio=wav_bytes(), image=image, name="request.wav",
                         images=DocList[GeneratedImage]([GeneratedImage(image=image, seed=1), GeneratedImage(image=image, seed=2)]))
    written = write_outputs(generated, str(tmp_path / "gen"), input_fingerprint=fingerprint(wav_bytes()))
    assert sorted(p.split("/")[-1] for p in written) == ["request-1.png", "request.png"]
