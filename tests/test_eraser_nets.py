"""The learned eraser's networks (issue 12). Partial convolutions (transmodal.nets.pconv): renormalisation and
mask update against hand-computed values, the U-Net's shapes, a tiny one fitting one batch; the text segmenter
(transmodal.nets.text_segmenter): shapes, size, output stride, a tiny one learning a mask on one batch."""

import os

import pytest
import torch
import torch.nn.functional as F

from transmodal.nets.pconv import PartialConv2d, PartialUNet


def ones_conv() -> PartialConv2d:
    conv = PartialConv2d(1, 1, 3, padding=1, bias=False)
    conv.weight.data.fill_(1.0)
    return conv


def test_known_pixels_are_renormalised_by_how_many_the_window_held():
    # A constant image of 2 with one hole: every window sums its known pixels times 9 / (known count).
    # Centre: 8 known -> 16 * 9/8 = 18; a corner: 4 pixels in the image, one the hole -> 6 * 9/3 = 18.
    image = torch.full((1, 1, 3, 3), 2.0)
    mask = torch.ones(1, 1, 3, 3)
    mask[0, 0, 1, 1] = 0
    out, new_mask = ones_conv()(image, mask)
    assert torch.allclose(out, torch.full_like(out, 18.0))
    assert bool(new_mask.all())  # every window held a known pixel: the hole is filled after one layer


def test_a_window_with_nothing_known_stays_a_hole_and_the_mask_shrinks():
    image = torch.arange(25, dtype=torch.float32).reshape(1, 1, 5, 5)
    mask = torch.ones(1, 1, 5, 5)
    mask[0, 0, 1:4, 1:4] = 0  # a 3x3 hole: the centre's window sees nothing known
    conv = ones_conv()
    conv.bias = torch.nn.Parameter(torch.tensor([5.0]))
    out, new_mask = conv(image, mask)
    assert new_mask[0, 0, 2, 2] == 0 and out[0, 0, 2, 2] == 0  # no bias where nothing was known
    assert new_mask.sum() == 24
    # (1, 1): its window holds 5 known pixels, 0 + 1 + 2 + 5 + 10 = 18 -> 18 * 9/5 + bias
    assert torch.isclose(out[0, 0, 1, 1], torch.tensor(18 * 9 / 5 + 5.0))


@pytest.mark.parametrize("double", [False, True])
def test_unet_keeps_the_image_size_and_the_composite_keeps_known_pixels(double):
    net = PartialUNet(levels=4, width=8, double=double).eval()
    image = torch.rand(2, 3, 64, 48)
    mask = torch.ones(2, 1, 64, 48)
    mask[:, :, 20:40, 10:30] = 0
    with torch.no_grad():
        output = net(image, mask)
    assert output.shape == image.shape
    result = PartialUNet.composite(image, mask, output)
    assert torch.equal(result[:, :, :20], image[:, :, :20])
    assert not torch.equal(result[:, :, 20:40, 10:30], image[:, :, 20:40, 10:30])


@pytest.mark.parametrize("double", [False, True])
def test_a_small_unet_fits_one_batch(double):
    torch.manual_seed(0)
    # Smooth colour gradients (what lies behind lettering) with rectangular holes where text would be.
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    image = torch.stack([torch.stack([xs, ys, (xs + ys) / 2]), torch.stack([1 - xs, ys * 0.5, xs * ys])])
    mask = torch.ones(2, 1, 32, 32)
    mask[0, :, 8:16, 4:28] = 0
    mask[1, :, 18:26, 6:24] = 0
    net = PartialUNet(levels=3, width=8, double=double)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)

    def hole_error() -> float:
        with torch.no_grad():
            return float(((net(image, mask) - image).abs() * (1 - mask)).sum() / (1 - mask).sum() / 3)

    before = hole_error()
    for _ in range(150):
        optimizer.zero_grad()
        output = net(image, mask)
        loss = (output - image).abs().mean() + 6 * ((output - image).abs() * (1 - mask)).mean()  # valid + hole
        loss.backward()
        optimizer.step()
    net.eval()
    assert hole_error() < 0.25 * before


def test_a_double_level_adds_its_second_convolution_to_its_first_and_passes_the_second_mask():
    from transmodal.nets.pconv import DoublePartialBlock, PartialBlock

    torch.manual_seed(0)
    block = DoublePartialBlock(PartialBlock(3, 4, 3, 2, False, torch.nn.ReLU()), 4, torch.nn.ReLU()).eval()
    image, mask = torch.rand(1, 3, 16, 16), torch.ones(1, 1, 16, 16)
    mask[:, :, 2:14, 2:14] = 0  # a hole the first (stride 2) convolution leaves partly open
    with torch.no_grad():
        first, first_mask = block.first(image, mask)
        second, second_mask = block.second(first, first_mask)
        out, out_mask = block(image, mask)
    assert torch.equal(out, first + second) and torch.equal(out_mask, second_mask)
    assert second_mask.sum() > first_mask.sum()  # the second convolution shrinks the hole further
    plain, double = PartialUNet(levels=3, width=8), PartialUNet(levels=3, width=8, double=True)
    assert {"encoder.0.first.conv.weight", "encoder.0.second.conv.weight"} <= set(double.state_dict())
    assert "encoder.0.conv.weight" in plain.state_dict()  # the shipped (plain) checkpoints' names, as they were


def test_a_residual_unet_starts_at_the_first_fill_and_needs_one():
    torch.manual_seed(0)
    image, base = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    mask = torch.ones(1, 1, 32, 32)
    mask[:, :, 10:20, 5:25] = 0
    net = PartialUNet(levels=2, width=8, residual=True).eval()
    assert torch.equal(net(image, mask, base), base)  # the correction starts at zero
    with pytest.raises(ValueError, match="first fill"):
        net(image, mask)


def test_text_segmenter_shapes_size_and_stride():
    from transmodal.nets.text_segmenter import TextSegmenter

    net = TextSegmenter(width=1.0).eval()
    with torch.no_grad():
        logits = net(torch.rand(1, 3, 96, 128))
    assert logits.shape == (1, 1, 96, 128)
    parameters = sum(p.numel() for p in net.parameters())
    assert parameters * 4 < 25e6  # a float32 checkpoint under 25 MB
    small = sum(p.numel() for p in TextSegmenter(width=0.5).parameters())
    assert small < 0.5 * parameters
    # dilation, not stride, past 1/8: the deepest features of a 64x64 image are 8x8
    features = net.stem(torch.rand(1, 3, 64, 64))
    for stage in net.stages:
        features = stage(features)
    assert features.shape[2:] == (8, 8)


def test_text_segmenter_learns_a_text_mask_on_one_batch():
    from transmodal.nets.text_segmenter import TextSegmenter

    torch.manual_seed(0)
    # Dark strokes (letters' stand-ins) on light backgrounds; the mask is where the strokes are.
    image = torch.full((2, 3, 64, 64), 0.85)
    mask = torch.zeros(2, 1, 64, 64)
    for n, (top, left) in enumerate([(10, 8), (36, 20)]):
        for k in range(5):
            image[n, :, top : top + 12, left + 8 * k : left + 8 * k + 3] = 0.1
            mask[n, :, top : top + 12, left + 8 * k : left + 8 * k + 3] = 1
    net = TextSegmenter(width=0.35, features=32)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(image), mask)
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        predicted = torch.sigmoid(net(image)) > 0.5
    true_positive = (predicted & (mask > 0)).sum().item()
    f1 = 2 * true_positive / (predicted.sum().item() + mask.sum().item())
    assert f1 > 0.7


def test_an_int8_checkpoint_is_a_quarter_of_float32_and_draws_nearly_the_same(tmp_path):
    from transmodal.nets import checkpoint

    torch.manual_seed(0)
    model = PartialUNet(levels=2, width=16).eval()
    half, small = str(tmp_path / "half.pt"), str(tmp_path / "int8.pt")
    checkpoint.save(model, "partial-unet", {"levels": 2, "width": 16}, half)
    checkpoint.save(model, "partial-unet", {"levels": 2, "width": 16}, small, precision="int8")
    assert os.path.getsize(small) < 0.7 * os.path.getsize(half)
    image, mask = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    with torch.no_grad():
        expected = model(image, mask)
        got = checkpoint.load(small, "partial-unet")(image, mask)
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()
    with pytest.raises(ValueError, match="int8"):
        checkpoint.save(model, "partial-unet", {}, small, precision="int4")
