"""The pixel translator (issue: end-to-end in-image translation): strips, networks, decoding, training,
the shipped checkpoints, the executor's fitting of real lines, and its flow.

Quality (NLL, BLEU read back by Tesseract, the cascade beside it) is measured by `transmodal eval
pixel-translator` (training/pixels/README.md), not here.
"""

import random

import cv2
import numpy as np
import pytest
import torch
from docarray import DocList

from executors.pixel_translator.backends import CHECKPOINTS
from executors.pixel_translator.executor import PixelTranslator as PixelTranslatorExecutor
from executors.pixel_translator.executor import _ink_box, fit_line
from training.pixels import data, phrases
from training.pixels.train import TrainConfig, Trainer, pixel_loss
from transmodal import strips
from transmodal.docs import MediaDoc
from transmodal.media import encode_image
from transmodal.nets import checkpoint
from transmodal.nets.pixels import ConvStripTranslator, PixelTranslator

TINY = {"height": 32, "width": 128, "channels": 8, "dimension": 32, "layers": 1, "heads": 2, "feed_forward": 64}


@pytest.fixture(scope="module")
def corpora():
    training, held_out, pieces = data.corpora()
    return training, held_out, pieces


def picture(ink: np.ndarray, text=(0, 0, 0), background=(255, 255, 255), factor: float = 1.0, pad=(20, 15)):
    """An RGB picture of a strip's ink, scaled by `factor`, in the given colours, with a margin."""
    ink = cv2.resize(ink, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR) if factor != 1 else ink
    page = np.zeros((ink.shape[0] + 2 * pad[0], ink.shape[1] + 2 * pad[1], 3), np.float32) + background
    window = page[pad[0] : pad[0] + ink.shape[0], pad[1] : pad[1] + ink.shape[1]]
    window[:] = window * (1 - ink[..., None]) + np.array(text, np.float32) * ink[..., None]
    return page.round().astype(np.uint8)


# --- phrases and strips ----------------------------------------------------------------------------------------


def test_phrases_are_thousands_and_the_held_out_ones_are_never_trained_on():
    every = phrases.phrases()
    training, held_out = phrases.split(400)
    assert len(every) > 2000 and len(set(every)) == len(every)
    assert len(held_out) == 400 and not set(training) & set(held_out)
    assert sorted(training + held_out) == sorted(every)


def test_a_prefix_is_drawn_exactly_where_it_stands_in_the_whole_text():
    whole = strips.render("La playa es diez horas")
    prefix = strips.render("La playa es")
    width = int(strips._font().getlength("La playa es")) + strips.LEFT - 1
    assert np.array_equal(whole[:, :width], prefix[:, :width])
    assert prefix[:, width + 3 :].max() == 0 and whole[:, width + 3 :].max() > 0.5


def test_sub_examples_add_one_piece_at_a_time(corpora):
    training, _held_out, _pieces = corpora
    assert all(steps[0] == "" and steps[-1] == target for steps, target in zip(training.steps, training.targets))
    assert 4 < np.mean([len(steps) - 1 for steps in training.steps]) < 10  # BPE: words mostly whole
    source, partial, target = training.sub_examples(random.Random(0), 16)
    assert source.shape == partial.shape == target.shape == (16, 1, strips.HEIGHT, strips.WIDTH)
    # the next partial target holds all of the partial target's ink, and mostly more
    assert bool(((partial > 0.5) <= (target > 0.5)).all())
    added = ((target > 0.5).flatten(1).sum(1) - (partial > 0.5).flatten(1).sum(1)).tolist()
    assert sum(count > 0 for count in added) >= 12
    # and one step past the last piece adds nothing: the example of where to stop
    indices, partials, targets = training.every_sub_example(3)
    ends = [k for k in range(len(indices)) if k + 1 == len(indices) or indices[k + 1] != indices[k]]
    assert [targets[k] for k in ends] == [partials[k] for k in ends] == training.targets[:3]


# --- networks --------------------------------------------------------------------------------------------------


def test_networks_draw_a_strip_of_the_input_size():
    strip = torch.rand(2, 1, 32, 128)
    assert PixelTranslator(**TINY)(strip, strip).shape == strip.shape
    assert ConvStripTranslator(height=32, width=128, channels=8, vector=16)(strip).shape == strip.shape


class ScriptedTranslator(PixelTranslator):
    """Draws, whatever the source, the partial target plus the next of a list of column bands: a network
    whose every step can be checked by hand (the decoding loop is the subject here, not the network)."""

    def __init__(self, bands: list[tuple[int, int]]):
        super().__init__(**TINY)
        self.bands = bands
        self.calls = 0

    def forward(self, source, partial):
        self.calls += 1
        drawn = partial.clone()
        for start, stop in self.bands:
            if not drawn[..., 10:20, start:stop].bool().all():
                drawn[..., 10:20, start:stop] = 1
                break
        return drawn * 20 - 10  # logits: +10 ink, -10 paper


def test_greedy_decoding_adds_a_piece_a_step_and_stops_when_nothing_changes():
    model = ScriptedTranslator([(4, 20), (24, 40), (44, 50)]).eval()
    drawn = model.translate(torch.zeros(2, 1, 32, 128), max_steps=10)
    expected = torch.zeros(2, 1, 32, 128)
    for start, stop in model.bands:
        expected[..., 10:20, start:stop] = 1
    assert torch.equal(drawn, expected)
    assert model.calls == 4  # three pieces, then a step that changes nothing
    model.calls = 0
    limited = model.translate(torch.zeros(1, 1, 32, 128), max_steps=2)
    assert model.calls == 2 and limited[..., 44:50].sum() == 0  # stopped at the piece limit


class ErodingTranslator(ScriptedTranslator):
    """Like ScriptedTranslator, but each step also wipes column 4 of what was drawn before."""

    def forward(self, source, partial):
        logits = super().forward(source, partial)
        if partial[..., 10:20, 4].any():
            logits[..., 10:20, 4] = -10
        return logits


def test_ink_once_drawn_is_kept_unless_decoding_as_the_paper_does():
    model = ErodingTranslator([(4, 20), (24, 40)]).eval()
    kept = model.translate(torch.zeros(1, 1, 32, 128), max_steps=10)
    assert kept[..., 10:20, 4:20].all() and kept[..., 10:20, 24:40].all()
    as_fed_back = model.translate(torch.zeros(1, 1, 32, 128), max_steps=10, keep_drawn=False)
    assert not as_fed_back[..., 10:20, 4].any()


def test_the_full_model_overfits_one_batch():
    torch.manual_seed(0)
    model = PixelTranslator(**TINY)
    texts = ["No parking", "Hot soup", "Exit", "Fresh bread"]
    source = torch.from_numpy(np.stack([strips.render(text)[:, :128] for text in texts]))[:, None]
    partial = torch.from_numpy(np.stack([strips.render(text.split()[0])[:, :128] for text in texts]))[:, None]
    target = torch.flip(source, dims=[0])  # anything fixed that the inputs must map to
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(80):
        loss = pixel_loss(model(source, partial), target)
        first = first or loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.25 * first


def test_training_runs_and_writes_a_loadable_checkpoint(tmp_path):
    config = TrainConfig(
        "attention", dict(TINY, width=strips.WIDTH), minutes=0.05, batch_size=4, log_every=1, validation_phrases=4
    )
    report = Trainer(config).run(str(tmp_path))
    assert report["steps"] >= 1 and 0 < report["validation"]["nll_held_out"] < 1.0
    model = checkpoint.load(str(tmp_path / "pixel-translator-attention-cpu.pt"), "pixel-translator")
    assert isinstance(model, PixelTranslator) and (tmp_path / "pixel-translator-attention-cpu.png").exists()


# --- the shipped checkpoints -----------------------------------------------------------------------------------


@pytest.mark.parametrize("network, bound", [("attention", 0.02), ("conv", 0.07)])  # measured 0.011, 0.043
def test_the_shipped_checkpoint_learned_the_held_out_strips(corpora, network, bound):
    from training.pixels import evaluate

    _training, held_out, _pieces = corpora
    name = {"attention": "pixel-translator", "conv": "conv-strip-translator"}[network]
    model = checkpoint.load(f"{CHECKPOINTS}/pixel-translator-{network}-cpu.pt", name)
    # a blank prediction's NLL on these strips is ~0.2 nats a pixel
    assert evaluate.nll(model, held_out, count=40) < bound


# --- the executor: fitting a real line to the strip --------------------------------------------------------------


def test_a_strip_as_trained_is_fitted_to_itself():
    ink = strips.render("Turn left at the bank")
    line = fit_line(picture(ink), _ink_box(picture(ink)))
    assert line is not None and line.scale == pytest.approx(1.0)
    assert np.abs(line.strip - ink).max() < 0.1 and np.abs(line.strip - ink).mean() < 0.005


@pytest.mark.parametrize("factor", [0.8, 2.5])
def test_a_larger_or_smaller_line_in_any_colours_is_scaled_onto_the_strip(factor):
    ink = strips.render("The bank is open")
    page = picture(ink, text=(250, 240, 10), background=(20, 30, 120), factor=factor)
    line = fit_line(page, _ink_box(page))
    assert line is not None and line.scale == pytest.approx(1 / factor, rel=0.08)
    assert np.abs(line.strip - ink).mean() < 0.04  # light on dark became dark on light, at the strip's size
    assert np.abs(line.background - (20, 30, 120)).max() < 3 and np.abs(line.text - (250, 240, 10)).max() < 40


def test_drawing_back_paints_the_source_over_and_draws_at_the_source_scale():
    ink = strips.render("No parking")
    page = picture(ink, text=(200, 0, 0), factor=2.0)
    line = fit_line(page, _ink_box(page))
    assert line is not None
    line.paint_over(page)
    drawn_into = line.draw(page, strips.render("Ningún aparcamiento"))
    assert drawn_into is not None
    x0, y0, x1, y1 = drawn_into
    assert (x1 - x0) == pytest.approx(2 * strips._font().getlength("Ningún aparcamiento"), abs=6)
    strongest = page.reshape(-1, 3)[page[..., 1].argmin()]
    assert np.abs(strongest.astype(int) - (200, 0, 0)).max() < 50  # the source's colour (a 14 px glyph, anti-aliased)


def test_a_line_too_long_for_the_strip_fails_its_document_saying_what_to_do():
    long_line = " ".join(["Turn left at the bank"] * 3)
    page = np.full((40, 1200, 3), 255, np.uint8)
    cv2.putText(page, long_line, (5, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    (doc,) = PixelTranslatorExecutor().translate(DocList[MediaDoc]([MediaDoc(image=encode_image(page))]))
    assert doc.error_stage == "PixelTranslator" and "longer than" in doc.error and "crop" in doc.error
