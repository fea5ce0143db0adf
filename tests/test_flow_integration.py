"""The real flow.yml on loopback: gRPC gateway, four executor processes, real OCR, MT and rendering.

Signs are generated with known English text; the translated image is read back by Tesseract's Spanish
model, which must find the words of the translation and none of the English ones.
"""

import os
import re
import struct
import subprocess
import sys
import unicodedata
import zlib

import cv2
import numpy as np
import pytesseract
import pytest
from PIL import Image

from executors.text_translator.backends import ApertiumTranslator
from transmodal.client import TransmodalClient
from transmodal.docs import MediaDoc
from transmodal.flows import local_flow
from transmodal.media import decode_image, encode_image
from transmodal.synthetic import sign_set

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOW = os.path.join(ROOT, "flow.yml")


@pytest.fixture(scope="module")
def flow_host():
    flow, host = local_flow(FLOW)
    with flow:
        yield host


def words(text: str) -> set[str]:
    """Lower-case words of 3+ letters, accents removed (OCR may drop an accent; that is not what we test)."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    return {word for word in re.findall(r"[a-z]+", plain) if len(word) >= 3}


def read_spanish(image_bytes: bytes) -> str:
    return pytesseract.image_to_string(Image.fromarray(decode_image(image_bytes)), lang="spa", config="--psm 11")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb for a naive decoder."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_signs_come_back_in_spanish_without_the_english(flow_host):
    signs = sign_set(6, seed=3)
    docs = [MediaDoc(image=encode_image(sign.image), name=f"sign{index}.png") for index, sign in enumerate(signs)]
    results = {}
    report = TransmodalClient(flow_host).process(
        docs,
        parameters={"source_lang": "en", "target_lang": "es"},
        on_result=lambda doc: results.update({doc.name: doc}),
    )
    assert report.ok, report.failures
    expected = ApertiumTranslator().translate([sign.text for sign in signs], "en", "es")
    for index, (sign, translation) in enumerate(zip(signs, expected)):
        doc = results[f"sign{index}.png"]
        assert doc.trace == ["TextDetector/rep-0", "TextTranslator/rep-0", "TextEraser/rep-0", "TextRenderer/rep-0"]
        read_back = words(read_spanish(doc.image))
        wanted = words(translation)
        english_only = words(sign.text) - wanted
        found = wanted & read_back
        assert len(found) >= 0.75 * len(wanted), f"{sign.lines} -> {translation!r}; read back {read_back}"
        assert not (english_only & read_back), f"English words left in {sign.lines}: {english_only & read_back}"


def test_bad_inputs_fail_alone_and_the_flow_keeps_serving(flow_host):
    good = encode_image(sign_set(1, seed=5)[0].image)
    docs = [
        MediaDoc(image=b"this is not an image", name="corrupt.png"),
        MediaDoc(image=good[: len(good) // 2], name="truncated.png"),
        MediaDoc(image=b"", name="empty.png"),
        MediaDoc(image=png_claiming(50_000, 50_000), name="bomb.png"),
        MediaDoc(image=good, name="unknown-language.png", source_lang="xx"),
        MediaDoc(image=good, name="missing-pair.png", target_lang="de"),
        MediaDoc(image=good, name="good.png"),
    ]
    results = {}
    report = TransmodalClient(flow_host).process(
        docs, request_size=len(docs), on_result=lambda d: results.update({d.name: d})
    )
    assert report.sent == len(docs) == len(results)  # nothing dropped
    errors = {name: doc.error for name, doc in results.items()}
    assert "cannot decode image" in errors["corrupt.png"]
    assert "truncated or corrupt" in errors["truncated.png"]
    assert "empty image" in errors["empty.png"]
    assert "image too large" in errors["bomb.png"] and "2500000000 pixels" in errors["bomb.png"]
    assert "unknown source language code 'xx'" in errors["unknown-language.png"]
    assert "no Apertium pair installed for en->de" in errors["missing-pair.png"]
    assert errors["good.png"] is None and results["good.png"].regions
    assert {failure.name for failure in report.failures} == set(errors) - {"good.png"}

    # The same Flow still translates the next request.
    again = TransmodalClient(flow_host).process([MediaDoc(image=good, name="again.png")])
    assert again.ok


def test_cli_writes_each_translated_image_and_exits_nonzero_on_failures(flow_host, tmp_path):
    sign_path = tmp_path / "sign.jpg"
    Image.fromarray(sign_set(1, seed=9)[0].image).save(sign_path, quality=95)
    broken_path = tmp_path / "broken.png"
    broken_path.write_bytes(b"\x89PNG garbage")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "transmodal.cli",
        "translate-image",
        str(sign_path),
        str(broken_path),
        "--source",
        "en",
        "--target",
        "es",
        "--out",
        str(out),
        "--host",
        flow_host,
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "FAILED broken.png [TextDetector]: cannot decode image" in result.stderr
    assert (out / "sign.png").exists() and not (out / "broken.png").exists()
    assert Image.open(out / "sign.png").size == (640, 480)


def test_cli_lists_a_region_whose_translation_cannot_fit_legibly(flow_host, tmp_path):
    # A glossary turns a one-word sign into a paragraph: at the smallest legible size it still overflows.
    image = np.full((120, 320, 3), 255, np.uint8)
    cv2.putText(image, "EXIT", (90, 80), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (0, 0, 0), 5, cv2.LINE_AA)
    sign_path = tmp_path / "exit.png"
    Image.fromarray(image).save(sign_path)
    glossary = tmp_path / "terms.txt"
    glossary.write_text("exit = " + " ".join(["salida de emergencia por la puerta del fondo"] * 6) + "\n")
    command = [
        sys.executable,
        "-m",
        "transmodal.cli",
        "translate-image",
        str(sign_path),
        "--source",
        "en",
        "--target",
        "es",
        "--out",
        str(tmp_path / "out"),
        "--host",
        flow_host,
        "--quiet",
        "--glossary",
        str(glossary),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"FLAGGED exit\.png region 1 'EXIT': .*overflow", result.stdout), result.stdout


def test_two_replicas_of_one_executor_both_serve():
    flow, host = local_flow(FLOW, replicas={"TextTranslator": 2})
    image = encode_image(sign_set(1, seed=11)[0].image)
    replicas_seen = set()
    with flow:
        report = TransmodalClient(host).process(
            [MediaDoc(image=image, name=f"{index}.png") for index in range(6)],
            on_result=lambda doc: replicas_seen.update(
                stage for stage in doc.trace if stage.startswith("TextTranslator")
            ),
        )
    assert report.ok, report.failures
    assert replicas_seen == {"TextTranslator/rep-0", "TextTranslator/rep-1"}
