"""Train the learned eraser's networks on generated pairs, within a time budget.

    transmodal train segmenter --config cpu --minutes 20
    transmodal train inpainter --config cpu --minutes 20

- segmenter (transmodal.nets.text_segmenter): image -> text mask, binary cross-entropy with equal class
  weights (the seed design found weighting the rare text class made masks fat, not better).
- inpainter (transmodal.nets.pconv): image with the text masked out -> the clean image. Losses of Liu et al.
  2018 without the perceptual and style terms (they need ImageNet VGG weights, which are not to be had
  offline): L1 on the known pixels + 6 x L1 on the holes + 0.1 x total variation of the composite over the
  holes and their 1-pixel rim.

Adam, the learning rate cut to a tenth for the last fifth of the time. Everything random comes from the
seed; validation sets come from seeds the training stream never uses. Writes to --out:
<model>-<config>.pt (network name, arguments, half-precision weights), .json (config, validation, time)
and .png (loss curve).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import time

import numpy as np

# Passive OpenMP waiting: with other work on the 2 cores, spinning threads made steps several times slower
# (measured for SEE, training/see/README.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from training.batches import Producers  # noqa: E402
from training.eraser import data  # noqa: E402
from transmodal.nets import checkpoint  # noqa: E402
from transmodal.nets.pconv import PartialUNet  # noqa: E402
from transmodal.nets.text_segmenter import TextSegmenter  # noqa: E402

HOLE_WEIGHT = 6.0
TV_WEIGHT = 0.1


@dataclasses.dataclass
class TrainConfig:
    model: str  # "segmenter" or "inpainter"
    arguments: dict  # the network's constructor arguments
    minutes: float = 20.0
    batch_size: int = 16
    image_size: int = 128
    learning_rate: float = 2e-3
    final_decay: float = 0.2
    validation_count: int = 160
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    log_every: int = 25
    workers: int = 0  # processes making the batches (0: made between steps, in this process)
    # inpainter: the loss on the holes, "l1" (the paper's) or "l2" (what PSNR measures: an L1-trained
    # correction of Telea's fill stayed at zero, the median of its errors)
    hole_loss: str = "l1"
    # Backgrounds drawn for training, with repeats as weights. The inpainter trains mostly on the textured
    # ones it exists for: on flat and gradient fills OpenCV is exact already.
    backgrounds: tuple[str, ...] = data.BACKGROUNDS


INPAINTER_BACKGROUNDS = ("photo", "photo", "photo", "texture", "texture", "comic", "gradient", "flat")
CONFIGS = {
    ("segmenter", "cpu"): TrainConfig("segmenter", {"width": 0.5, "features": 64}),
    ("segmenter", "gpu"): TrainConfig(
        "segmenter",
        {"width": 1.0, "features": 128},
        minutes=60,
        batch_size=64,
        image_size=256,
        device="cuda",
        workers=6,
    ),
    # The partial-convolution U-Net correcting OpenCV Telea's fill (the shipped one), and the paper's plain one.
    ("inpainter", "cpu"): TrainConfig(
        "inpainter",
        {"levels": 4, "width": 32, "residual": True},
        batch_size=8,
        learning_rate=1e-3,
        backgrounds=INPAINTER_BACKGROUNDS,
    ),
    ("inpainter", "cpu-plain"): TrainConfig(
        "inpainter", {"levels": 4, "width": 32}, batch_size=8, learning_rate=1e-3, backgrounds=INPAINTER_BACKGROUNDS
    ),
    # the seed's deeper variant: two partial convolutions a level, their outputs added
    ("inpainter", "cpu-double"): TrainConfig(
        "inpainter",
        {"levels": 4, "width": 32, "double": True},
        batch_size=8,
        learning_rate=1e-3,
        backgrounds=INPAINTER_BACKGROUNDS,
    ),
    ("inpainter", "gpu"): TrainConfig(
        "inpainter",
        {"levels": 5, "width": 48, "residual": True},
        minutes=60,
        batch_size=32,
        image_size=256,
        learning_rate=1e-3,
        device="cuda",
        workers=6,
        backgrounds=INPAINTER_BACKGROUNDS,
    ),
}
NETWORK_NAMES = {"segmenter": "text-segmenter", "inpainter": "partial-unet"}


def build(config: TrainConfig) -> torch.nn.Module:
    if config.model == "segmenter":
        return TextSegmenter(**config.arguments)
    return PartialUNet(**config.arguments)


def telea_fill(pixels: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """OpenCV Telea's fill (what a residual inpainter corrects) of uint8 images (N, H, W, 3) where the
    masks (N, H, W) are non-zero."""
    from executors.text_eraser.backends import TeleaInpainter

    telea = TeleaInpainter(grain=False)
    return np.stack(
        [telea.inpaint(image.copy(), (hole > 0).astype(np.uint8) * 255) for image, hole in zip(pixels, holes)]
    )


def first_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """`telea_fill` of float tensors, as a tensor like `images`."""
    pixels = (images.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    filled = telea_fill(pixels, masks[:, 0].cpu().numpy())
    return torch.from_numpy(filled).permute(0, 3, 1, 2).float().div(255.0).to(images.device)


def run_inpainter(
    model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, filled: torch.Tensor | None = None
) -> torch.Tensor:
    """The network's image for images whose `masks` (1 on holes) are to be filled; a residual network
    corrects Telea's fill (`filled`, made here when not given)."""
    known = 1.0 - masks
    if getattr(model, "residual", False):
        return model(images, known, first_fill(images, masks) if filled is None else filled)
    return model(images, known)


def segmenter_loss(model: torch.nn.Module, images, clean, masks, filled=None, hole_loss: str = "l1") -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(model(images), masks)


def inpainter_loss(model: torch.nn.Module, images, clean, masks, filled=None, hole_loss: str = "l1") -> torch.Tensor:
    known = 1.0 - masks
    output = run_inpainter(model, images, masks, filled)
    composite = PartialUNet.composite(images, known, output)
    valid = torch.mean(torch.abs(known * (output - clean)))
    error = masks * (output - clean)
    hole = torch.mean(error.abs()) if hole_loss == "l1" else torch.mean(error.square())
    rim = F.max_pool2d(masks, 3, 1, 1)  # the holes and the pixel around them
    tv = torch.mean(rim[:, :, :, 1:] * torch.abs(composite[:, :, :, 1:] - composite[:, :, :, :-1])) + torch.mean(
        rim[:, :, 1:, :] * torch.abs(composite[:, :, 1:, :] - composite[:, :, :-1, :])
    )
    return valid + HOLE_WEIGHT * hole + TV_WEIGHT * tv


def mask_f1(probabilities: torch.Tensor, truth: torch.Tensor, threshold: float = 0.5) -> dict:
    predicted = probabilities > threshold
    truth = truth > 0.5
    true_positive = float((predicted & truth).sum())
    precision = true_positive / max(1.0, float(predicted.sum()))
    recall = true_positive / max(1.0, float(truth.sum()))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def psnr_inside(output: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) over the masked pixels only (uint8 images, mask > 0 on the holes)."""
    inside = mask > 0
    error = float(np.mean((output[inside].astype(np.float64) - clean[inside].astype(np.float64)) ** 2))
    return float(10 * np.log10(255.0**2 / max(error, 1e-10)))


@torch.inference_mode()
def validate(model: torch.nn.Module, config: TrainConfig, samples: list[data.Sample]) -> dict:
    if not samples:
        return {}
    model.eval()
    images, clean, masks = (tensor.to(config.device) for tensor in data.to_tensors(samples))
    if config.model == "segmenter":
        probabilities = torch.cat([torch.sigmoid(model(chunk)) for chunk in images.split(32)])
        result = mask_f1(probabilities.cpu(), masks.cpu())
    else:
        outputs = torch.cat(
            [
                PartialUNet.composite(i, 1 - m, run_inpainter(model, i, m)).clamp(0, 1)
                for i, m in zip(images.split(32), masks.split(32))
            ]
        )
        filled = (outputs.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        result = {
            "psnr_inside_mask": float(np.mean([psnr_inside(f, s.clean, s.mask) for f, s in zip(filled, samples)]))
        }
        if getattr(model, "residual", False):  # what it corrects, on the same images
            pixels, _clean, holes = data.stack(samples)
            telea = telea_fill(pixels, holes)
            result["psnr_telea"] = float(np.mean([psnr_inside(f, s.clean, s.mask) for f, s in zip(telea, samples)]))
    model.train()
    return result


def training_batch(
    rng: np.random.Generator, size: int, count: int, backgrounds: tuple[str, ...], telea: bool
) -> tuple[np.ndarray, ...]:
    """One batch as uint8 arrays: images, clean images, masks, and with `telea` Telea's fill of the masks
    (the residual inpainter's input; made here, so that worker processes take it off the trainer)."""
    kinds = rng.choice(backgrounds, count)
    images, clean, masks = data.stack([data.sample(rng, size, str(kind)) for kind in kinds])
    return (images, clean, masks) + ((telea_fill(images, masks),) if telea else ())


def train(config: TrainConfig, out_dir: str, name: str, log=print) -> dict:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    model = build(config).to(config.device)
    telea = bool(getattr(model, "residual", False))
    make_batch = functools.partial(
        training_batch, size=config.image_size, count=config.batch_size, backgrounds=config.backgrounds, telea=telea
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # The inpainter is validated on the textured backgrounds it exists for (flat ones are exact anyway).
    validation = (
        data.generate(config.validation_count, config.seed + 1_000_001, config.image_size)
        if config.model == "segmenter"
        else data.generate(config.validation_count // 2, config.seed + 1_000_002, config.image_size, "photo")
        + data.generate(config.validation_count // 2, config.seed + 1_000_003, config.image_size, "texture")
    )
    validation = [item for item in validation if item.mask.any()]  # a PSNR needs holes
    started = time.monotonic()
    history: list[dict] = []
    checks: list[dict] = []
    with contextlib.ExitStack() as stack:
        producers = stack.enter_context(Producers(make_batch, config.seed, config.workers)) if config.workers else None
        iteration = _train_loop(model, optimizer, config, rng, make_batch, producers, validation, history, checks, log)
    seconds = time.monotonic() - started
    result = validate(model, config, validation)
    log(f"trained {iteration} iterations in {seconds / 60:.1f} min; validation {result}")
    return save(model, config, out_dir, name, history, checks, result, seconds)


def _train_loop(model, optimizer, config, rng, make_batch, producers, validation, history, checks, log) -> int:
    """Steps until the time budget is spent; returns the number of iterations."""
    loss_of = segmenter_loss if config.model == "segmenter" else inpainter_loss
    started = time.monotonic()
    budget = config.minutes * 60
    decayed = False
    moving = None
    iteration = 0
    next_check = budget / 4
    while time.monotonic() - started < budget:
        if not decayed and time.monotonic() - started > (1 - config.final_decay) * budget:
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * 0.1
            decayed = True
        arrays = producers.next() if producers else make_batch(rng)
        images, clean, masks = (tensor.to(config.device) for tensor in data.as_tensors(*arrays[:3]))
        filled = data.image_tensor(arrays[3]).to(config.device) if len(arrays) > 3 else None
        loss = loss_of(model, images, clean, masks, filled, config.hole_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        iteration += 1
        moving = loss.item() if moving is None else 0.95 * moving + 0.05 * loss.item()
        history.append({"iteration": iteration, "seconds": round(time.monotonic() - started, 1), "loss": loss.item()})
        if iteration % config.log_every == 0:
            log(f"  it {iteration:5d}  {time.monotonic() - started:6.0f} s  loss {moving:.4f}")
        if time.monotonic() - started >= next_check and time.monotonic() - started < budget:
            checks.append({"iteration": iteration, **validate(model, config, validation[:40])})
            log(f"  check {checks[-1]}")
            next_check += budget / 4
    return iteration


def save(model, config: TrainConfig, out_dir: str, name: str, history, checks, result: dict, seconds: float) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, f"{config.model}-{name}")
    checkpoint.save(model.to("cpu").eval(), NETWORK_NAMES[config.model], config.arguments, f"{stem}.pt")
    summary = {
        "config": name,
        "train_config": dataclasses.asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "iterations": len(history),
        "images_seen": len(history) * config.batch_size,
        "minutes": round(seconds / 60, 2),
        "checks": checks,
        "validation": result,
    }
    with open(f"{stem}.json", "w") as file:
        json.dump(summary, file, indent=2)
    plot_history(history, config, f"{stem}.png")
    return {"checkpoint": f"{stem}.pt", **summary}


def plot_history(history: list[dict], config: TrainConfig, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.asarray([row["loss"] for row in history], dtype=float)
    width = min(50, max(1, len(losses) // 10))
    smooth = np.convolve(losses, np.ones(width) / width, mode="valid") if len(losses) >= width else losses
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.plot(np.arange(len(losses)) + 1, losses, color="lightgrey", lw=0.5, label="batch")
    axis.plot(np.arange(len(smooth)) + width, smooth, color="black", label=f"moving mean of {width}")
    axis.set_yscale("log")
    axis.set_xlabel(f"iteration (batch of {config.batch_size}, {config.image_size}x{config.image_size})")
    axis.set_ylabel("BCE" if config.model == "segmenter" else "L1 valid + 6 L1 hole + 0.1 TV")
    axis.legend()
    minutes = history[-1]["seconds"] / 60 if history else 0
    axis.set_title(f"{config.model} training ({minutes:.1f} min, {config.device})")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")  # copy the .pt to ship it


def main(model: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"transmodal train {model}", description=f"Train the eraser's {model}.")
    parser.add_argument("--config", choices=sorted({name for kind, name in CONFIGS if kind == model}), default="cpu")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--minutes", type=float, help="time budget (default: the config's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's)")
    parser.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: the config's, 2)")
    parser.add_argument("--hole-loss", choices=["l1", "l2"], help="inpainter: loss on the holes (default: l1)")
    args = parser.parse_args(argv)
    config = CONFIGS[(model, args.config)]
    overrides = {
        key: value
        for key, value in (
            ("minutes", args.minutes),
            ("seed", args.seed),
            ("device", args.device),
            ("threads", args.threads),
            ("hole_loss", args.hole_loss),
        )
        if value is not None
    }
    config = dataclasses.replace(config, **overrides)
    summary = train(config, args.out, args.config, log=lambda line: print(line, flush=True))
    print(f"wrote {summary['checkpoint']} (+ .json, .png)")
    return 0
