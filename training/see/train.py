"""Train SEE on generated images, within a time budget, with the paper's curriculum and restart trick.

    transmodal train see --config cpu --out executors/text_detector/checkpoints --minutes 20
    python -m executors.text_detector.see.train --config gpu --out runs/see-gpu

Curriculum (section 4.2 of the paper): phases from one line to N, each trained with as many regions
(localisation time steps) as it has lines at most; a phase ends when its share of the time is up, or
earlier once the moving training accuracy reaches `advance_accuracy`. Restart trick: when the loss of a
phase has stalled and the recogniser still reads little, the localisation network is re-initialised and
trained again alongside the recogniser that has learnt meanwhile. Everything random comes from `seed`;
a run stopped by the clock is reproducible up to the number of steps it had time for.

Writes to --out: see-<config>.pt (model config + weights), see-<config>.json (training config, alphabet,
phases, validation accuracy, time) and see-<config>.png (loss and accuracy curves).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time

import numpy as np

# With other processes on the cores, OpenMP threads that spin while waiting for each other made a training
# step 3-8x slower than one thread; passive waiting keeps 2 threads faster than 1 (measured, README).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  (after OMP_WAIT_POLICY: OpenMP reads it when torch loads)

from training.see import data  # noqa: E402
from training.see.losses import LossWeights, see_loss  # noqa: E402
from transmodal.nets.see import BLANK, SeeConfig, SeeModel, read, to_tensor  # noqa: E402


@dataclasses.dataclass
class Phase:
    name: str
    lines: int  # at most this many lines per image, and as many regions trained
    share: float  # of the time budget (unused time of an early-finished phase goes to the later ones)
    kind: str = "lines"  # "single" (centred strings, small images) or "lines" (random lines, larger images)
    single_share: float = 0.0  # of the batches of a "lines" phase drawn as single centred strings instead


@dataclasses.dataclass
class TrainConfig:
    model: SeeConfig
    phases: list[Phase]
    minutes: float = 20.0
    batch_size: int = 32
    single_size: int = 64  # side of the single-string images (the paper's SVHN crops are 64x64)
    lines_size: int = 128  # side of the multi-line images
    learning_rate: float = 2e-3
    localization_learning_rate: float = 3e-4  # the localisation net moves the boxes: slower is steadier
    final_decay: float = 0.2  # the last fifth of the time runs at a tenth of the learning rates
    weights: LossWeights = dataclasses.field(default_factory=LossWeights)
    advance_accuracy: float = 0.97
    restart_patience: int = 400  # iterations without a 1 % better moving loss ...
    restart_accuracy: float = 0.1  # ... while the moving accuracy is below this: restart localisation
    max_restarts: int = 1
    validation_count: int = 200
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    log_every: int = 25

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["model"] = self.model.to_dict()
        return values


CURRICULUM = [
    Phase("single strings", lines=1, share=0.25, kind="single"),
    Phase("one line anywhere", lines=1, share=0.15, single_share=0.2),
    Phase("up to 2 lines", lines=2, share=0.25, single_share=0.15),
    Phase("up to 3 lines", lines=3, share=0.35, single_share=0.15),
]

CONFIGS = {
    # ~20 minutes on 2 shared CPU cores: localisation widths halved (16/24/24 instead of 32/48/48).
    "cpu": TrainConfig(model=SeeConfig(localization_widths=(16, 24, 24)), phases=CURRICULUM, minutes=20.0),
    # The paper's widths and more images per step, for a lent GPU.
    "gpu": TrainConfig(
        model=SeeConfig(localization_widths=(32, 48, 48)),
        phases=CURRICULUM,
        minutes=60.0,
        batch_size=128,
        device="cuda",
        restart_patience=600,
        validation_count=1000,
    ),
    # Seconds, for tests and for trying the code.
    "tiny": TrainConfig(
        model=SeeConfig(
            max_lines=2,
            max_length=4,
            localization_size=32,
            localization_widths=(4, 8, 8),
            localization_hidden=32,
            crop_height=16,
            crop_width=32,
            recognition_widths=(8, 8, 16),
            recognition_hidden=32,
        ),
        phases=[
            Phase("single strings", lines=1, share=0.5, kind="single"),
            Phase("up to 2 lines", lines=2, share=0.5, single_share=0.25),
        ],
        minutes=0.1,
        batch_size=8,
        single_size=32,
        lines_size=48,
        validation_count=16,
        log_every=5,
    ),
}


def make_batch(config: TrainConfig, phase: Phase, rng: np.random.Generator) -> tuple[list[data.Sample], bool]:
    """A batch of the phase's images (all one size) and whether they are single centred strings."""
    max_length = config.model.max_length
    single = phase.kind == "single" or rng.random() < phase.single_share
    if single:
        return [data.single_string(rng, config.single_size, max_length) for _ in range(config.batch_size)], True
    return [data.text_lines(rng, config.lines_size, phase.lines, max_length) for _ in range(config.batch_size)], False


def batch_accuracy(logits: torch.Tensor, samples: list[data.Sample]) -> float:
    """Share of images whose every region reads its line exactly (and regions without a line read nothing)."""
    correct = 0
    for regions, sample in zip(read(logits), samples):
        truth = sample.lines + [""] * (len(regions) - len(sample.lines))
        correct += [text for text, _ in regions] == truth
    return correct / len(samples)


def restart_localization(model: SeeModel, optimizer: torch.optim.Optimizer) -> None:
    """The restart trick: fresh localisation weights (and optimiser state), the recogniser kept as learnt."""
    for module in model.localization.modules():
        if module is not model.localization and hasattr(module, "reset_parameters"):
            module.reset_parameters()  # type: ignore[operator]  # hasattr-checked; nn.Module's __getattr__ types it as Tensor
    model.localization.reset_transform()  # back to the initial transform, as at the start
    for parameter in model.localization.parameters():
        optimizer.state.pop(parameter, None)


@torch.no_grad()
def validate(model: SeeModel, samples: list[data.Sample], steps: int, device: str) -> float:
    model.eval()
    correct: float = 0
    for start in range(0, len(samples), 64):
        chunk = samples[start : start + 64]
        logits = model(to_tensor([s.image for s in chunk]).to(device), steps).logits
        correct += batch_accuracy(logits.cpu(), chunk) * len(chunk)
    model.train()
    return correct / len(samples)


def train(config: TrainConfig, out_dir: str, name: str, log=print) -> dict:
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    device = config.device
    model = SeeModel(config.model).to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.localization.parameters(), "lr": config.localization_learning_rate},
            {"params": model.recognition.parameters(), "lr": config.learning_rate},
        ]
    )
    base_rates = [group["lr"] for group in optimizer.param_groups]
    # Held-out sets, drawn from seeds the training stream never uses.
    validation = {
        "single": data.generate(
            "single",
            config.validation_count,
            config.seed + 1_000_001,
            image_size=config.single_size,
            max_lines=1,
            max_length=config.model.max_length,
        ),
        "lines": data.generate(
            "lines",
            config.validation_count,
            config.seed + 1_000_002,
            image_size=config.lines_size,
            max_lines=config.model.max_lines,
            max_length=config.model.max_length,
        ),
    }

    started = time.monotonic()
    budget = config.minutes * 60
    history: list[dict] = []
    events: list[dict] = []
    iteration = restarts = 0
    moving_loss, moving_accuracy = None, 0.0
    decayed = False
    for index, phase in enumerate(config.phases):
        remaining_share = sum(p.share for p in config.phases[index:])
        phase_end = time.monotonic() + (budget - (time.monotonic() - started)) * phase.share / remaining_share
        phase_start_iteration = iteration
        best_loss, since_best = math.inf, 0
        moving_accuracy = 0.0  # each phase is harder than the last: its accuracy starts over
        events.append({"iteration": iteration, "event": f"phase: {phase.name}"})
        log(f"phase {index + 1}/{len(config.phases)}: {phase.name} ({phase.lines} region(s))")
        while time.monotonic() < phase_end:
            if not decayed and time.monotonic() - started > (1 - config.final_decay) * budget:
                for group, rate in zip(optimizer.param_groups, base_rates):
                    group["lr"] = rate * 0.1
                decayed = True
                events.append({"iteration": iteration, "event": "learning rate / 10"})
            samples, single = make_batch(config, phase, rng)
            images = to_tensor([sample.image for sample in samples]).to(device)
            labels = data.labels_tensor(samples, phase.lines, config.model.max_length).to(device)
            output = model(images, phase.lines)
            loss, parts = see_loss(output, labels, config.weights, moving_accuracy)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

            accuracy = batch_accuracy(output.logits.detach().cpu(), samples)
            moving_loss = loss.item() if moving_loss is None else 0.95 * moving_loss + 0.05 * loss.item()
            moving_accuracy = 0.95 * moving_accuracy + 0.05 * accuracy
            iteration += 1
            history.append(
                {
                    "iteration": iteration,
                    "seconds": round(time.monotonic() - started, 1),
                    "phase": index,
                    "loss": loss.item(),
                    **parts,
                    "accuracy": accuracy,
                    "single": single,
                }
            )
            if iteration % config.log_every == 0:
                log(
                    f"  it {iteration:5d}  {time.monotonic() - started:6.0f} s  loss {moving_loss:.3f}  "
                    f"acc {moving_accuracy:.3f}  area {parts['area']:.3f}  aspect {parts['aspect']:.3f}"
                )

            if moving_loss < 0.99 * best_loss:
                best_loss, since_best = moving_loss, 0
            else:
                since_best += 1
            if (
                since_best >= config.restart_patience
                and moving_accuracy < config.restart_accuracy
                and restarts < config.max_restarts
            ):
                restart_localization(model, optimizer)
                restarts += 1
                best_loss, since_best = math.inf, 0
                events.append({"iteration": iteration, "event": "restart localisation"})
                log(f"  it {iteration}: loss stalled at accuracy {moving_accuracy:.2f}: localisation restarted")
            if moving_accuracy >= config.advance_accuracy and iteration - phase_start_iteration >= 4 * config.log_every:
                log(f"  accuracy {moving_accuracy:.3f} reached: next phase")
                break

    seconds = time.monotonic() - started
    validation_accuracy = {
        "single (N regions)": validate(model, validation["single"], config.model.max_lines, device),
        "lines (N regions)": validate(model, validation["lines"], config.model.max_lines, device),
    }
    log(f"trained {iteration} iterations in {seconds / 60:.1f} min; validation {validation_accuracy}")
    return save(model, config, out_dir, name, history, events, validation_accuracy, seconds)


def save(
    model: SeeModel,
    config: TrainConfig,
    out_dir: str,
    name: str,
    history: list[dict],
    events: list[dict],
    validation_accuracy: dict,
    seconds: float,
) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, f"see-{name}")
    model = model.to("cpu").eval()
    torch.save({"config": config.model.to_dict(), "state_dict": model.state_dict()}, f"{stem}.pt")
    summary = {
        "config": name,
        "train_config": config.to_dict(),
        "alphabet": config.model.alphabet,
        "blank_label": BLANK,
        "iterations": len(history),
        "images_seen": len(history) * config.batch_size,
        "minutes": round(seconds / 60, 2),
        "torch_threads": config.threads,
        "events": events,
        "validation_accuracy": validation_accuracy,
    }
    with open(f"{stem}.json", "w") as file:
        json.dump(summary, file, indent=2)
    plot_history(history, events, config, f"{stem}.png")
    return {"checkpoint": f"{stem}.pt", **summary}


def plot_history(history: list[dict], events: list[dict], config: TrainConfig, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def smooth(values: list[float], width: int = 25) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        if len(array) < width:
            return array
        return np.convolve(array, np.ones(width) / width, mode="valid")

    iterations = [row["iteration"] for row in history]
    figure, (losses, accuracy) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for key, label in (("loss", "total (eq. 7)"), ("recognition", "recognition (cross-entropy)")):
        values = smooth([row[key] for row in history])
        losses.plot(iterations[len(iterations) - len(values) :], values, label=label)
    for key, label in (
        ("area", "area"),
        ("aspect", "aspect ratio"),
        ("direction", "direction"),
        ("height", "min. height"),
        ("outside", "outside image"),
    ):
        values = smooth([row[key] for row in history])
        losses.plot(iterations[len(iterations) - len(values) :], values, label=f"{label} regulariser", lw=0.8)
    losses.set_yscale("log")
    losses.set_ylabel("loss (moving mean of 25)")
    losses.legend(fontsize=8)
    values = smooth([row["accuracy"] for row in history])
    accuracy.plot(iterations[len(iterations) - len(values) :], values, color="black")
    accuracy.set_ylabel("training sequence accuracy")
    accuracy.set_xlabel(f"iteration (batch of {config.batch_size})")
    accuracy.set_ylim(0, 1)
    for axis in (losses, accuracy):
        for event in events:
            axis.axvline(event["iteration"], color="grey", ls=":", lw=0.8)
    for event in events:
        accuracy.text(event["iteration"], 0.02, " " + event["event"], rotation=90, fontsize=7, va="bottom")
    figure.suptitle(f"SEE training ({history[-1]['seconds'] / 60:.1f} min)" if history else "SEE training")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")  # copy the .pt to ship it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal train see", description="Train SEE on generated images.")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--minutes", type=float, help="time budget (default: the config's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's)")
    parser.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    args = parser.parse_args(argv)
    config = CONFIGS[args.config]
    overrides = {
        key: value
        for key, value in (("minutes", args.minutes), ("seed", args.seed), ("device", args.device))
        if value is not None
    }
    config = dataclasses.replace(config, **overrides)
    summary = train(config, args.out, args.config, log=lambda line: print(line, flush=True))
    print(f"wrote {summary['checkpoint']} (+ .json, .png)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
