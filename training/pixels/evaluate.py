"""`transmodal eval pixel-translator`: the paper's measures on the phrase strips.

- NLL: mean binary cross-entropy per pixel (nats) on training and held-out phrases; for the full model over
  every sub-example (teacher forcing: the true first n - 1 pieces drawn), for the baseline over whole strips.
- BLEU: each held-out source strip translated by greedy decoding, the drawn strip read back by Tesseract
  (Spanish), corpus BLEU-4 against Apertium's translation (the reference the models learned from).
- The cascade on the same strips: Tesseract reads the English source, Apertium translates it.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import cast

import numpy as np
import torch

from training.batches import chunks
from training.pixels import data
from transmodal.metrics import bleu4
from transmodal.nets.pixels import PixelTranslator

PAPER = {  # WMT'14 De -> En renders, 1024 x 32 strips (the paper's table 2)
    "conv": {"nll": 0.117, "bleu": 0.5},
    "attention": {"nll": 0.025, "bleu": 7.7},
}
SHIPPED = os.path.join(os.path.dirname(__file__), "..", "..", "executors", "pixel_translator", "checkpoints")


@torch.no_grad()
def nll(model, corpus: data.Corpus, count: int | None = None) -> float:
    """Per-pixel NLL (nats) of the first `count` phrases of `corpus`."""
    from training.pixels.train import pixel_loss

    model.eval()
    phrases = min(count or len(corpus.sources), len(corpus.sources))
    total, pixels = 0.0, 0
    if isinstance(model, PixelTranslator):  # every sub-example of those phrases, the stopping step too
        indices, partial, target = corpus.every_sub_example(phrases)
        for part in chunks(len(indices), 64):
            truth = data.strips(target[part])
            drawn = model(
                data.strips([corpus.sources[i] for i in indices[part]]),
                data.strips(partial[part]),
            )
            total += pixel_loss(drawn, truth).item() * truth.numel()
            pixels += truth.numel()
    else:
        for part in chunks(phrases, 64):
            source, truth = corpus.pairs(list(range(part.start, part.stop)))
            total += pixel_loss(model(source), truth).item() * truth.numel()
            pixels += truth.numel()
    return round(total / max(1, pixels), 4)


def strip_image(ink: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] -> a grey uint8 picture (black on white)."""
    return ((1.0 - np.clip(ink, 0, 1)) * 255).astype(np.uint8)


def read_back(strips: list[np.ndarray], language: str) -> list[str]:
    """Tesseract's reading of each strip (ink) as one line, at twice the size (it reads 14 px poorly); all
    strips stacked in one picture, so one Tesseract process reads them."""
    import cv2

    from transmodal.ocr.tesseract import TesseractEngine

    pictures = [cv2.resize(strip_image(strip), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) for strip in strips]
    height, width = pictures[0].shape
    page = cv2.cvtColor(np.concatenate(pictures), cv2.COLOR_GRAY2RGB)
    boxes = [(0.0, float(index * height), float(width), float((index + 1) * height)) for index in range(len(strips))]
    return [line.text for line in TesseractEngine().read_lines(page, boxes, language)]


@torch.no_grad()
def translate_strips(model, sources: list[str], keep_drawn: bool = True) -> list[np.ndarray]:
    drawn = []
    for part in chunks(len(sources), 32):
        strips = data.strips(sources[part])
        drawn += list(model.translate(strips, keep_drawn=keep_drawn)[:, 0].numpy())
    return drawn


def _bleu(references: list[str], hypotheses: list[str]) -> float:
    return round(100 * bleu4([r.lower().split() for r in references], [h.lower().split() for h in hypotheses]), 2)


def run(count: int = 200, checkpoints: dict | None = None, samples: str | None = None) -> dict:
    """Every measure on the first `count` held-out phrases; with `samples`, a PNG of the first eight:
    source, reference, then each model's drawing."""
    from transmodal.nets import checkpoint

    training, held_out, _pieces = data.corpora()
    count = min(count, len(held_out.sources))
    sources, references = held_out.sources[:count], held_out.targets[:count]
    results: dict = {"held_out_phrases": count, "models": {}}
    paths = {
        "conv": os.path.join(SHIPPED, "pixel-translator-conv-cpu.pt"),
        "attention": os.path.join(SHIPPED, "pixel-translator-attention-cpu.pt"),
    } | (checkpoints or {})
    names = {"conv": "conv-strip-translator", "attention": "pixel-translator"}
    shown = [np.concatenate([data.render(sources[i]), data.render(references[i])]) for i in range(min(8, count))]
    for network, path in paths.items():
        if not os.path.isfile(path):
            results["models"][network] = {"missing": path}
            continue
        model = checkpoint.load(path, names[network])
        drawn = translate_strips(model, sources)
        shown = [np.concatenate([column, drawn[i]]) for i, column in enumerate(shown)]
        read = read_back(drawn, "es")
        results["models"][network] = {
            "nll_train": nll(model, training, count),
            "nll_held_out": nll(model, held_out, count),
            "bleu": _bleu(references, read),
            "bleu_as_the_paper_decodes": (  # the drawing fed back as it is, earlier ink not kept
                _bleu(references, read_back(translate_strips(model, sources, keep_drawn=False), "es"))
                if isinstance(model, PixelTranslator)
                else None
            ),
            "examples": [
                {"source": s, "reference": r, "read": h} for s, r, h in list(zip(sources, references, read))[:5]
            ],
        }
    # the cascade: read the English, translate it
    english = read_back([data.render(source) for source in sources], "en")
    results["cascade"] = {
        "bleu": _bleu(references, data.translate(english)),
        "source_read_exactly": round(float(np.mean([a == b for a, b in zip(english, sources)])), 4),
    }
    results["reference_read_back_bleu"] = _bleu(references, read_back([data.render(r) for r in references], "es"))
    if samples:
        from PIL import Image

        rule = np.full((3, shown[0].shape[1]), 0.5, np.float32)  # a grey rule between phrases
        Image.fromarray(strip_image(np.concatenate([part for column in shown for part in (column, rule)]))).save(
            samples
        )
    return results


def markdown(results: dict) -> str:
    lines = [
        f"Held-out phrases: {results['held_out_phrases']} (never trained on); reference = Apertium eng-spa; "
        "BLEU of Tesseract's reading of the drawn strip.",
        "",
        "| model | data | NLL train | NLL held-out | BLEU | paper (WMT'14 De→En): NLL / BLEU |",
        "|---|---|---|---|---|---|",
    ]
    for network, label in (("conv", "conv baseline (3.1)"), ("attention", "full model (3.2), drawn ink kept")):
        row = results["models"].get(network, {})
        if "bleu" not in row:
            lines.append(f"| {label} | — | not trained | | | {PAPER[network]['nll']} / {PAPER[network]['bleu']} |")
            continue
        lines.append(
            f"| {label} | phrase strips 384×32, en→es | {row['nll_train']:.3f} | {row['nll_held_out']:.3f} | "
            f"{row['bleu']:.1f} | {PAPER[network]['nll']} / {PAPER[network]['bleu']} |"
        )
    paper_way = results["models"].get("attention", {}).get("bleu_as_the_paper_decodes")
    if paper_way is not None:
        lines.append(f"| full model, drawing fed back as is (the paper's decoding) | same | | | {paper_way:.1f} | |")
    lines.append(f"| cascade: Tesseract → Apertium | same strips | — | — | {results['cascade']['bleu']:.1f} | — |")
    lines.append(
        f"| (ceiling: Tesseract reading the reference strips) | | | | {results['reference_read_back_bleu']:.1f} | |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal eval pixel-translator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="held-out phrases (default 200)")
    parser.add_argument("--conv", help="baseline checkpoint (default: the shipped one)")
    parser.add_argument("--attention", help="full model checkpoint (default: the shipped one)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--samples", help="write a PNG of eight held-out phrases: source, reference, drawings")
    args = parser.parse_args(argv)
    chosen = {name: path for name, path in (("conv", args.conv), ("attention", args.attention)) if path}
    results = run(args.count, cast(dict, chosen), args.samples)
    table = markdown(results)
    print(table)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1, ensure_ascii=False)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(table)
    return 0
