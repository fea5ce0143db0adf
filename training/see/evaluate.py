"""Measure a SEE checkpoint on held-out generated images, and inside the image-translation Flow.

    transmodal eval see [--checkpoint PATH] [--count 500] [--flow-count 100] [--no-flow]

Metrics (the model runs with all N regions, as deployed; a region that reads nothing is no line):
- single strings: sequence accuracy on 64x64 images of one centred string (the paper: 95.2 % on SVHN);
- multi-line: sequence accuracy on 128x128 images of 1..N lines (every line read, in order, none extra);
- box recall: share of true line boxes that a predicted box (the region's corners) overlaps with
  IoU >= 0.5. The generator knows the true boxes; the model never saw any.
- in the Flow: flow.yml with the TextDetector's backend set to `see`, then to `tesseract`, on the same
  images: share of documents whose text (lines joined by newlines) is exactly the true lines.

The held-out sets come from seeds that training never draws from.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch
import yaml

from training import shipped_checkpoint
from training.see import data
from transmodal.metrics import box_iou
from transmodal.nets.see import (
    SeeConfig,
    SeeModel,
    checkpoint_config,
    corners_in_pixels,
    load_checkpoint,
    read,
    to_tensor,
)

SINGLE_SEED = 20_240_001
LINES_SEED = 20_240_002
SINGLE_SIZE = 64
LINES_SIZE = 128
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def held_out(kind: str, count: int, config: SeeConfig) -> list[data.Sample]:
    if kind == "single":
        return data.generate(
            "single", count, SINGLE_SEED, image_size=SINGLE_SIZE, max_lines=1, max_length=config.max_length
        )
    return data.generate(
        "lines", count, LINES_SEED, image_size=LINES_SIZE, max_lines=config.max_lines, max_length=config.max_length
    )


@torch.no_grad()
def predict(model: SeeModel, samples: list[data.Sample]) -> list[list[tuple[str, list[float]]]]:
    """Per image: the (text, [x0, y0, x1, y1]) of each region that reads something, in region order."""
    results = []
    for start in range(0, len(samples), 64):
        chunk = samples[start : start + 64]
        output = model(to_tensor([sample.image for sample in chunk]))
        height, width = chunk[0].image.shape[:2]
        # The box of a region is the part of it inside the image, as the backend reports it.
        quads = corners_in_pixels(output.transforms, width, height)
        quads = quads.clamp(min=torch.tensor([0.0, 0.0]), max=torch.tensor([float(width), float(height)]))
        for regions, image_quads in zip(read(output.logits), quads):
            results.append(
                [
                    (text, [*quad.min(0).values.tolist(), *quad.max(0).values.tolist()])
                    for (text, _), quad in zip(regions, image_quads)
                    if text
                ]
            )
    return results


def measure(model: SeeModel, samples: list[data.Sample]) -> dict[str, float]:
    predictions = predict(model, samples)
    sequences = sum([text for text, _ in found] == sample.lines for found, sample in zip(predictions, samples))
    lines_read = sum(
        sum(line in [text for text, _ in found] for line in sample.lines) for found, sample in zip(predictions, samples)
    )
    boxes_found = sum(
        sum(max((box_iou(truth, box) for _, box in found), default=0.0) >= 0.5 for truth in sample.boxes)
        for found, sample in zip(predictions, samples)
    )
    true_lines = sum(len(sample.lines) for sample in samples)
    return {
        "sequence_accuracy": sequences / len(samples),
        "lines_read": lines_read / true_lines,
        "box_recall_iou50": boxes_found / true_lines,
        "images": len(samples),
    }


def flow_accuracy(samples: list[data.Sample], backend: str, backend_options: dict) -> dict[str, float]:
    """Run the samples through flow.yml with the TextDetector's backend replaced; text accuracy."""
    from transmodal.client import TransmodalClient
    from transmodal.docs import MediaDoc
    from transmodal.flows import flow_spec, local_flow
    from transmodal.media import encode_image

    spec = flow_spec(os.path.join(ROOT, "flow.yml"))
    for executor in spec["executors"]:
        if executor["name"] == "TextDetector":
            executor["uses_with"] = {"backend": backend, "backend_options": backend_options}
    results: dict[str | None, MediaDoc] = {}  # by document name
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as file:
        yaml.safe_dump(spec, file, sort_keys=False)  # jtype first: Jina turns it into a tag
    try:
        flow, host = local_flow(file.name)
        docs = [
            MediaDoc(image=encode_image(sample.image), name=str(index), source_lang="en", target_lang="es")  # type: ignore[arg-type]  # docarray validates the bytes into ImageBytes
            for index, sample in enumerate(samples)
        ]
        started = time.perf_counter()
        with flow:
            TransmodalClient(host).process(docs, request_size=8, on_result=lambda doc: results.update({doc.name: doc}))
        seconds = time.perf_counter() - started
    finally:
        os.unlink(file.name)
    correct = sum(
        results.get(str(index)) is not None
        and not results[str(index)].failed
        and (results[str(index)].text or "").split("\n") == sample.lines
        for index, sample in enumerate(samples)
    )
    failed = sum(1 for doc in results.values() if doc.failed)
    return {
        "sequence_accuracy": correct / len(samples),
        "failed_documents": failed,
        "seconds": round(seconds, 1),
        "images": len(samples),
    }


def evaluate(checkpoint: str, count: int = 500, flow_count: int = 100, flow: bool = True) -> dict:
    config = checkpoint_config(checkpoint)
    sets = {"single": held_out("single", count, config), "lines": held_out("lines", count, config)}
    report: dict = {"checkpoint": checkpoint}
    if flow:
        # The Flow first: its executors are forked from this process, and a forked child hangs in torch if
        # the parent has already run torch's OpenMP thread pool (building or running a model does).
        report["flow"] = {
            name: {
                "see": flow_accuracy(samples[:flow_count], "see", {"checkpoint": os.path.abspath(checkpoint)}),
                "tesseract": flow_accuracy(samples[:flow_count], "tesseract", {}),
            }
            for name, samples in sets.items()
        }
    torch.manual_seed(0)
    model = load_checkpoint(checkpoint)
    report["model"] = {name: measure(model, samples) for name, samples in sets.items()}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal eval see", description="Measure a SEE checkpoint.")
    parser.add_argument(
        "--checkpoint",
        default=shipped_checkpoint("text_detector", "see-cpu.pt"),
        help="a .pt from `transmodal train see`",
    )
    parser.add_argument("--count", type=int, default=500, help="held-out images per set (default: 500)")
    parser.add_argument("--flow-count", type=int, default=100, help="of those, sent through the Flow (default: 100)")
    parser.add_argument("--no-flow", action="store_true", help="skip the Flow comparison with Tesseract")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    report = evaluate(args.checkpoint, args.count, args.flow_count, not args.no_flow)
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
