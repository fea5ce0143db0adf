"""Tesseract through its library in kept worker processes (transmodal/ocr/tesseract_api.py) reads exactly as
the `tesseract` program does, in every way the engine uses it, and its workers come and go cleanly."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from PIL import Image, ImageDraw

from transmodal import fonts
from transmodal.ocr.tesseract import TesseractEngine


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    image = Image.new("RGB", (900, 330), (250, 248, 240))
    draw = ImageDraw.Draw(image)
    font = fonts.load_font(fonts.font_path(fonts.SANS_BOLD), 40)
    draw.text((30, 20), "FRESH BREAD AND COFFEE", fill=(20, 20, 20), font=font)
    draw.text((30, 90), "Open every day 7-19", fill=(30, 60, 120), font=font)
    draw.rectangle((20, 170, 880, 310), fill=(20, 40, 90))
    draw.text((40, 190), "Tickets for the train", fill=(240, 240, 240), font=font)
    draw.text((40, 245), "Größe und Straße", fill=(240, 240, 240), font=font)
    return np.asarray(image)


@pytest.fixture(scope="module")
def engines():
    kept, program = TesseractEngine(), TesseractEngine(kept_workers=False)
    yield kept, program
    kept.close()


def test_the_kept_workers_read_as_the_program_does(engines, page):
    kept, program = engines
    assert kept.workers is not None and program.workers is None
    boxes = [(25, 15, 620, 70), (25, 85, 500, 140), (35, 185, 520, 240), (35, 240, 480, 300)]
    for language in ("eng", "deu"):
        code = "en" if language == "eng" else "de"
        assert [(line.box, line.text) for line in kept.find_lines(page, code)] == [
            (line.box, line.text) for line in program.find_lines(page, code)
        ]
        assert [(line.text, line.confidence) for line in kept.read_lines(page, boxes, code)] == [
            (line.text, line.confidence) for line in program.read_lines(page, boxes, code)
        ]
        assert kept.read_blocks(page, boxes, code, processes=2) == program.read_blocks(page, boxes, code, processes=2)
    read = [line.text for line in kept.read_lines(page, boxes, "de")]
    assert read == ["FRESH BREAD AND COFFEE", "Open every day 7-19", "Tickets for the train", "Größe und Straße"]


def test_workers_are_kept_started_again_after_dying_and_stopped_on_close(page):
    engine = TesseractEngine()
    assert engine.workers is not None
    box = [(25, 15, 620, 70)]
    engine.read_blocks(page, box, "en", processes=1)
    (worker,) = engine.workers.idle
    engine.read_blocks(page, box, "en", processes=1)
    assert engine.workers.idle == [worker]  # the same worker: no process started for the second call
    engine.read_blocks(page, box * 2, "en", processes=2)  # two threads at once: a second worker
    assert len(engine.workers.idle) == 2

    os.kill(worker.process.pid, signal.SIGKILL)  # a worker killed while idle is replaced when next needed
    worker.process.wait()
    assert engine.read_blocks(page, box * 2, "en", processes=2) == ["FRESH BREAD AND COFFEE"] * 2
    assert len(engine.workers.idle) == 2 and worker not in engine.workers.idle
    assert all(other.process.poll() is None for other in engine.workers.idle)

    processes = [other.process for other in engine.workers.idle]
    engine.close()
    assert engine.workers.idle == [] and all(process.returncode is not None for process in processes)


def test_a_language_without_data_fails_clearly_and_the_worker_stays(engines, page):
    kept, _ = engines
    assert kept.workers is not None
    with pytest.raises(RuntimeError, match="language data"):
        kept.workers.rows([page], "xyz", 6, (), 10.0)
    assert kept.read_blocks(page, [(25, 15, 620, 70)], "en") == ["FRESH BREAD AND COFFEE"]
