"""Train the pixel translator within a time budget.

    transmodal train pixel-translator --config cpu                 # the full model (the paper's section 3.2)
    transmodal train pixel-translator --config cpu --network conv  # the convolutional baseline (section 3.1)

- attention (the full model): one random sub-example per row of the batch, (source strip, the target's
  first n - 1 pieces drawn, the first n pieces drawn); binary cross-entropy of every pixel of the next
  partial target, thresholded at 0.5 (the paper's loss).
- conv (the baseline): (source strip, whole target strip), the same loss.

Sentences: training/pixels/phrases.py (held-out phrases never trained on); targets: Apertium eng-spa.
Writes to --out: pixel-translator-<network>-<config>.pt, .json (config, validation NLL, steps) and .png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in training/eraser: spinning threads slow shared cores

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from training.curves import plot_losses  # noqa: E402
from training.pixels import data  # noqa: E402
from transmodal import strips  # noqa: E402
from transmodal.nets import checkpoint  # noqa: E402
from transmodal.nets.pixels import ConvStripTranslator, PixelTranslator  # noqa: E402

NETWORKS = {"attention": ("pixel-translator", PixelTranslator), "conv": ("conv-strip-translator", ConvStripTranslator)}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "runs")  # copy a .pt (and its .json) to the executor's checkpoints to ship it


@dataclasses.dataclass
class TrainConfig:
    network: str
    arguments: dict
    minutes: float = 25.0
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    log_every: int = 25
    validation_phrases: int = 200  # of each set, for the NLL measured at the end


def configs(network: str, name: str) -> TrainConfig:
    if network not in NETWORKS:
        raise SystemExit(f"unknown network {network!r}: attention or conv")
    size = {"height": strips.HEIGHT, "width": strips.WIDTH}
    if name == "cpu":  # the paper's widths / 2 after a 4 x 4 fold, 3 attention layers of 128 (paper: 6 of 512)
        arguments = (
            dict(size, channels=32, dimension=128, layers=3, heads=4, feed_forward=512)
            if network == "attention"
            else dict(size, channels=32, vector=512)
        )
        return TrainConfig(network, arguments)
    if name == "gpu":
        arguments = (
            dict(size, channels=64, dimension=512, layers=6, heads=8, feed_forward=2048)
            if network == "attention"
            else dict(size, channels=64, vector=1024)
        )
        return TrainConfig(network, arguments, minutes=30.0, batch_size=128, device="cuda", threads=8)
    raise SystemExit(f"unknown config {name!r}: cpu or gpu")


def pixel_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy per pixel against the target thresholded at 0.5: the paper's loss, and
    (in nats) its per-pixel NLL."""
    return F.binary_cross_entropy_with_logits(logits, (target > 0.5).float())


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        torch.manual_seed(config.seed)
        self.training, self.held_out, self.pieces = data.corpora()
        name, network = NETWORKS[config.network]
        self.network_name = name
        self.model = network(**config.arguments).to(config.device)
        self.optimiser = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.01)

    def _rate(self, step: int, elapsed: float) -> float:
        """Linear warm-up (attention needs it), then linear decay to a tenth by the end of the time."""
        warm = min(1.0, (step + 1) / self.config.warmup_steps)
        left = max(0.0, 1 - elapsed / (self.config.minutes * 60))
        return self.config.learning_rate * warm * (0.1 + 0.9 * left)

    def step(self) -> float:
        device = self.config.device
        if self.config.network == "attention":
            source, partial, target = self.training.sub_examples(self.rng, self.config.batch_size)
            logits = self.model(source.to(device), partial.to(device))
        else:
            chosen = [self.rng.randrange(len(self.training.sources)) for _ in range(self.config.batch_size)]
            source, target = self.training.pairs(chosen)
            logits = self.model(source.to(device))
        loss = pixel_loss(logits, target.to(device))
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimiser.step()
        return loss.item()

    def run(self, out: str) -> dict:
        from training.pixels import evaluate

        torch.set_num_threads(self.config.threads)
        self.model.train()
        started, history, step = time.perf_counter(), [], 0
        while (elapsed := time.perf_counter() - started) < self.config.minutes * 60:
            for group in self.optimiser.param_groups:
                group["lr"] = self._rate(step, elapsed)
            loss = self.step()
            step += 1
            if step % self.config.log_every == 0:
                history.append({"step": step, "seconds": round(elapsed, 1), "loss": loss})
                print(json.dumps(history[-1]), flush=True)
        self.model.eval()
        validation = {
            "nll_train": evaluate.nll(self.model, self.training, self.config.validation_phrases),
            "nll_held_out": evaluate.nll(self.model, self.held_out, self.config.validation_phrases),
        }
        name = f"pixel-translator-{self.config.network}-{'gpu' if self.config.device.startswith('cuda') else 'cpu'}"
        os.makedirs(out, exist_ok=True)
        checkpoint.save(self.model, self.network_name, self.config.arguments, os.path.join(out, f"{name}.pt"))
        report = {
            "config": dataclasses.asdict(self.config),
            "steps": step,
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "validation": validation,
        }
        with open(os.path.join(out, f"{name}.json"), "w") as file:
            json.dump(report, file, indent=1)
        plot_losses(history, os.path.join(out, f"{name}.png"), f"pixel translator ({self.config.network})")
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal train pixel-translator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="attention", help="attention (section 3.2, default) or conv (3.1)")
    parser.add_argument("--config", default="cpu", help="cpu (<= 30 min on 2 cores) or gpu")
    parser.add_argument("--minutes", type=float, help="time budget (default: the config's)")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    config = configs(args.network, args.config)
    for field in ("minutes", "threads", "seed", "device", "batch_size"):
        if getattr(args, field) is not None:
            setattr(config, field, getattr(args, field))
    report = Trainer(config).run(args.out)
    print(json.dumps(report["validation"]))
    return 0
