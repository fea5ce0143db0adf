"""The learned eraser (issue 12) as the TextEraser uses it: generated training pairs, checkpoints written by
training and loaded by the executor (tiny random networks through the same code), the network mask kept to
each region, the partial-convolution backend, and the shipped checkpoints against OpenCV and the heuristic."""

import dataclasses

import numpy as np
import pytest
from docarray import DocList

from executors.text_eraser.executor import TextEraser
from executors.text_eraser.learned import PartialConvInpainter, TextSegmenterMask
from training.eraser import data, train
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import ConfigurationError, ModelNotFoundError
from transmodal.media import decode_image, encode_image
from transmodal.nets import checkpoint
from transmodal.nets.pconv import PartialUNet
from transmodal.nets.text_segmenter import TextSegmenter


def test_generated_pairs_are_reproducible_and_differ_only_under_the_mask(monkeypatch):
    monkeypatch.setattr(data, "JPEG_SHARE", 0.0)  # JPEG ringing differs everywhere: the mask stays the text's
    first, second = data.generate(6, seed=3, size=96), data.generate(6, seed=3, size=96)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) for a, b in zip(first, second))
    with_text = [sample for sample in first if sample.mask.any()]
    assert with_text
    for sample in first:
        difference = np.abs(sample.image.astype(int) - sample.clean.astype(int)).max(axis=2)
        assert (difference[sample.mask == 0] <= data.DIFFERENCE_THRESHOLD).all()
        assert len(sample.boxes) == len(sample.containers)


def test_every_background_kind_is_drawn():
    for kind in data.BACKGROUNDS:
        sample = data.generate(1, seed=1, size=64, background=kind)[0]
        assert sample.background == kind and sample.image.shape == (64, 64, 3)


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    """A tiny random segmenter and inpainter saved as training saves them."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    segmenter = TextSegmenter(width=0.25, features=16)
    with torch.no_grad():  # a bias that marks everything as text: the mask is then the region's area
        segmenter.decoder[-1].bias.fill_(20.0)
    checkpoint.save(segmenter, "text-segmenter", {"width": 0.25, "features": 16}, str(folder / "seg.pt"))
    checkpoint.save(PartialUNet(levels=2, width=8), "partial-unet", {"levels": 2, "width": 8}, str(folder / "inp.pt"))
    return folder


def test_checkpoints_round_trip_through_the_executor_loaders(tiny_checkpoints):
    segmenter = TextSegmenterMask(checkpoint=str(tiny_checkpoints / "seg.pt"), device="cpu")
    probabilities = segmenter.probabilities(np.zeros((37, 53, 3), np.uint8))  # not a multiple of 8
    assert probabilities.shape == (37, 53) and probabilities.min() > 0.99
    inpainter = PartialConvInpainter(checkpoint=str(tiny_checkpoints / "inp.pt"), device="cpu")
    pixels = np.full((50, 70, 3), 90, np.uint8)
    mask = np.zeros((50, 70), np.uint8)
    mask[20:25, 30:40] = 255
    original = pixels.copy()
    filled = inpainter.inpaint(pixels, mask)
    assert np.array_equal(filled[mask == 0], original[mask == 0])  # only the holes change


def test_an_untrained_residual_inpainter_gives_telea_s_fill(tmp_path):
    from executors.text_eraser.backends import TeleaInpainter

    net = PartialUNet(levels=2, width=8, residual=True)
    checkpoint.save(net, "partial-unet", {"levels": 2, "width": 8, "residual": True}, str(tmp_path / "res.pt"))
    sample = data.generate(1, seed=5, size=96, background="photo")[0]
    inpainter = PartialConvInpainter(checkpoint=str(tmp_path / "res.pt"), device="cpu", context=200)
    filled = inpainter.inpaint(sample.image.copy(), sample.mask)
    telea = TeleaInpainter(grain=False).inpaint(sample.image.copy(), sample.mask)
    assert np.abs(filled.astype(int) - telea.astype(int)).max() <= 1  # rounding only


def test_a_missing_or_wrong_checkpoint_fails_clearly(tiny_checkpoints, tmp_path):
    with pytest.raises(ModelNotFoundError, match="transmodal train segmenter"):
        TextSegmenterMask(checkpoint=str(tmp_path / "none.pt"))
    with pytest.raises(ModelNotFoundError, match="partial-unet"):
        PartialConvInpainter(checkpoint=str(tiny_checkpoints / "seg.pt"))
    with pytest.raises(ConfigurationError, match="heuristic, network, both"):
        TextEraser(mask="magic")


def test_the_network_mask_stays_inside_the_region_and_its_container(tiny_checkpoints):
    # The tiny network calls every pixel text: what is erased must still be the region's padded lines only,
    # inside its balloon, never the balloon's outline or the art beside it.
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (160, 240, 3), dtype=np.uint8)
    region = TextRegion(
        polygon=[[60, 60], [180, 60], [180, 90], [60, 90]],
        lines=[[60, 60, 180, 90]],
        container=[[40, 40], [200, 40], [200, 110], [40, 110]],
    )
    doc = MediaDoc(image=encode_image(pixels), regions=[region])
    eraser = TextEraser(mask="network", mask_options={"checkpoint": str(tiny_checkpoints / "seg.pt"), "device": "cpu"})
    out = decode_image(eraser.erase(DocList[MediaDoc]([doc]), parameters={})[0].image)
    changed = np.abs(out.astype(int) - pixels.astype(int)).max(axis=2) > 0
    assert changed[60:90, 60:180].mean() > 0.5
    outside = np.ones(changed.shape, bool)
    outside[41:110, 41:200] = False
    assert not changed[outside].any()


def test_the_training_loop_writes_a_checkpoint_the_executor_loads(tmp_path):
    config = dataclasses.replace(
        train.CONFIGS[("inpainter", "cpu")],
        arguments={"levels": 2, "width": 8},
        minutes=0.02,
        batch_size=2,
        image_size=64,
        validation_count=8,
    )
    summary = train.train(config, str(tmp_path), "test", log=lambda line: None)
    assert summary["iterations"] >= 1 and (tmp_path / "inpainter-test.png").exists()
    PartialConvInpainter(checkpoint=summary["checkpoint"], device="cpu")


def test_batches_made_by_worker_processes_train_the_same_way(tmp_path):
    # a worker's batch carries Telea's fill for the residual inpainter; an L2 loss on the holes is an option
    config = dataclasses.replace(
        train.CONFIGS[("inpainter", "cpu")],
        arguments={"levels": 2, "width": 8, "residual": True},
        minutes=0.05,
        batch_size=2,
        image_size=64,
        validation_count=4,
        workers=1,
        hole_loss="l2",
    )
    summary = train.train(config, str(tmp_path), "workers", log=lambda line: None)
    assert summary["iterations"] >= 1 and "psnr_telea" in summary["validation"]


# The shipped checkpoints ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_set():
    samples = data.generate(12, seed=40_000_000, size=128, background="photo")
    return [sample for sample in samples if sample.mask.any()]


def test_shipped_segmenter_finds_generated_text_pixels(photo_set):
    segmenter = TextSegmenterMask(device="cpu")
    truth = np.stack([sample.mask > 0 for sample in photo_set])
    predicted = np.stack([segmenter.text(sample.image) for sample in photo_set])
    precision = (predicted & truth).sum() / max(1, predicted.sum())
    recall = (predicted & truth).sum() / truth.sum()
    assert precision > 0.7 and recall > 0.7, (precision, recall)


def test_shipped_inpainter_is_no_worse_than_telea_on_generated_photos(photo_set):
    # The target was +3 dB over Telea; the CPU-trained correction reaches about +0.0 dB (README).
    # What must hold: the shipped network never makes Telea's fill worse.
    from executors.text_eraser.backends import TeleaInpainter

    telea = TeleaInpainter(grain=False)
    network = PartialConvInpainter(device="cpu")
    telea_psnr = np.mean([train.psnr_inside(telea.inpaint(s.image.copy(), s.mask), s.clean, s.mask) for s in photo_set])
    network_psnr = np.mean(
        [train.psnr_inside(network.inpaint(s.image.copy(), s.mask), s.clean, s.mask) for s in photo_set]
    )
    assert network_psnr >= telea_psnr - 0.2, (network_psnr, telea_psnr)


def test_a_gpu_lease_carries_the_generators_fonts_cut_down_to_what_it_draws(tmp_path):
    from training.gpu.prepare import prepare
    from transmodal import fonts

    written = prepare(str(tmp_path))
    cjk = tmp_path / "fonts" / "NotoSansCJK-Regular.ttc"
    assert written < 10_000_000 and cjk.stat().st_size < 200_000  # the collection itself is 19 MB
    assert fonts.covers(str(cjk), data.CJK_CHARACTERS)
    assert any((tmp_path / "photos").iterdir())
