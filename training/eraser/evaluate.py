"""Measure the learned eraser beside OpenCV and the heuristic text mask, on generated and on real images.

    transmodal eval eraser [--count 40] [--no-real] [--json FILE] [--markdown FILE]

Generated (held-out seeds, `count` images of 256x256 per background kind):
- mask precision / recall / F1 against the generator's true text pixels (where the image with text differs
  from the one without, grown by 3x3: the pixels an eraser must replace), for the heuristic mask (the
  TextEraser's, given the true text boxes and balloon outlines as regions) and the network's;
- PSNR and SSIM inside the true mask against the text-free image, for each of INPAINTERS (OpenCV Telea and
  Navier-Stokes, Telea with the copied grain the TextEraser uses by default, the plain partial-convolution
  U-Net, the seed's deeper double one where there is a checkpoint, and the one correcting Telea's fill), each
  given the true mask.
Real (the image-translation evaluation's comic pages and photos, `make eval-data`): the TextDetector finds
the regions as in the Flow, then each eraser configuration erases them all; measured are the source words
Tesseract still reads in the annotated text areas (whole image and area by area, words of 4+ letters) and
the damage outside them (share of pixels changed by more than 8 levels outside the annotated areas grown
by 8 pixels). Time: the network over a whole 1024x768 image and a 1300x2000 page, and the TextEraser on
each real comic page with its regions (2 CPU threads).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from training import shipped_checkpoint  # noqa: E402
from training.eraser import data  # noqa: E402
from training.eraser.train import mask_f1, psnr_inside  # noqa: E402

HELD_OUT_SEED = 30_000_000
IMAGE_SIZE = 256
CONFIGURATIONS: dict[str, dict] = {  # TextEraser `with:` options compared on real images
    "heuristic mask + Telea (default)": {"mask": "heuristic", "backend": "opencv-telea"},
    "network mask + Telea": {"mask": "network", "backend": "opencv-telea"},
    "heuristic + network masks + Telea": {"mask": "both", "backend": "opencv-telea"},
    "heuristic mask + partial conv.": {"mask": "heuristic", "backend": "pconv"},
}
INPAINTERS = (  # compared on generated images, each given the true mask
    "OpenCV Telea",
    "OpenCV Navier-Stokes",
    "Telea + grain (default)",
    "partial conv. (plain)",
    "partial conv. (double, the seed's deeper variant)",  # where its checkpoint is given or shipped
    "partial conv. correcting Telea",
)
CHANGED_LEVELS = 8
OUTSIDE_MARGIN = 8


def sample_regions(sample: data.Sample) -> list:
    """The generator's text items as TextRegions (box, one line, balloon outline): the heuristic's input."""
    from transmodal.docs import TextRegion

    regions = []
    for box, container in zip(sample.boxes, sample.containers):
        x0, y0, x1, y1 = (float(value) for value in box)
        polygon = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        regions.append(TextRegion(polygon=polygon, lines=[[x0, y0, x1, y1]], container=container or []))
    return regions


def heuristic_mask(sample: data.Sample) -> np.ndarray:
    """The TextEraser's own text mask (what it paints over or inpaints) for the sample's true regions."""
    from executors.text_eraser.executor import container_text_mask, region_text_mask

    mask = np.zeros(sample.mask.shape, np.uint8)
    for region in sample_regions(sample):
        found = (container_text_mask if region.container else region_text_mask)(sample.image, region)
        found.add_to(mask)
        if found.paint is not None:
            (x, y), _, where = found.paint
            mask[y : y + where.shape[0], x : x + where.shape[1]][where] = 255
    return mask


def ssim_inside(output: np.ndarray, clean: np.ndarray, mask: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    _, full = structural_similarity(clean, output, channel_axis=2, full=True, data_range=255)
    return float(full.mean(axis=2)[mask > 0].mean())


def generated(count: int, segmenter, inpainters: dict) -> dict:
    """Per background kind: mask scores and inpainting scores (means over the images with text)."""
    import torch

    results: dict = {}
    for index, kind in enumerate(data.BACKGROUNDS):
        samples = [s for s in data.generate(count, HELD_OUT_SEED + index, IMAGE_SIZE, kind) if s.mask.any()]
        truth = torch.from_numpy(np.stack([s.mask for s in samples]) > 0)
        heuristic = torch.from_numpy(np.stack([heuristic_mask(s) for s in samples]) > 0).float()
        network = torch.from_numpy(np.stack([segmenter.probabilities(s.image) for s in samples]))
        row: dict = {"images": len(samples)}
        row["heuristic mask"] = mask_f1(heuristic, truth.float())
        row["network mask"] = mask_f1(network, truth.float(), segmenter.threshold)
        for name, inpainter in inpainters.items():
            psnr, ssim = [], []
            for sample in samples:
                output = inpainter.inpaint(sample.image.copy(), sample.mask)
                psnr.append(psnr_inside(output, sample.clean, sample.mask))
                ssim.append(ssim_inside(output, sample.clean, sample.mask))
            row[name] = {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}
        results[kind] = row
    return results


def _area_mask(shape: tuple[int, ...], areas) -> np.ndarray:
    import cv2

    inside = np.zeros(shape[:2], np.uint8)
    for area in areas:
        cv2.fillPoly(inside, [np.round(np.asarray(area.polygon)).astype(np.int32)], 1)
    return cv2.dilate(inside, np.ones((2 * OUTSIDE_MARGIN + 1,) * 2, np.uint8)) > 0


def real(set_names: list[str]) -> dict:
    """Per set and configuration: source words left and damage outside the text areas."""
    from docarray import DocList

    from evaluation import image_translation as it
    from evaluation.measures import substring_hits, words
    from executors.text_detector.executor import TextDetector
    from executors.text_eraser.executor import TextEraser
    from transmodal.docs import MediaDoc
    from transmodal.media import decode_image

    detector = TextDetector()
    erasers = {name: TextEraser(**options) for name, options in CONFIGURATIONS.items()}
    results: dict = {}
    for set_name in set_names:
        items = it.SETS[set_name].load(False)
        left_counts = {name: 0 for name in erasers}
        word_counts = {name: 0 for name in erasers}
        changed_outside: dict[str, list[float]] = {name: [] for name in erasers}
        seconds: dict[str, list[float]] = {name: [] for name in erasers}
        for item in items:
            docs = DocList[MediaDoc]([MediaDoc(image=item.image, source_lang="en", target_lang="es")])  # type: ignore[arg-type]  # docarray validates the bytes into ImageBytes
            docs = detector.detect(docs, parameters={}) or docs
            before = decode_image(item.image)
            scored = [area for area in item.areas if not area.ignore and area.translate]
            source_words = [word for area in scored for word in words(area.text, it.LEFTOVER_MIN_LENGTH)]
            outside = ~_area_mask(before.shape, [area for area in item.areas])
            for name, eraser in erasers.items():
                copy = DocList[MediaDoc]([docs[0].model_copy(deep=True)])
                started = time.perf_counter()
                copy = eraser.erase(copy, parameters={}) or copy
                seconds[name].append(time.perf_counter() - started)
                output = bytes(copy[0].image or b"")
                after = decode_image(output)
                readings = [
                    it.tesseract_text(output, it.SOURCE_LANG),
                    " ".join(it.tesseract_blocks(after, [area.box for area in scored], it.SOURCE_LANG)),
                ]
                left, total = substring_hits(source_words, readings, exclude=set())
                changed = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2) > CHANGED_LEVELS
                left_counts[name] += left
                word_counts[name] += total
                changed_outside[name].append(float(changed[outside].mean()) if outside.any() else 0.0)
        results[set_name] = {
            name: {
                "source_words_left": left_counts[name],
                "source_words": word_counts[name],
                "changed_outside_percent": 100 * float(np.mean(changed_outside[name])),
                "seconds_median": float(np.median(seconds[name])),
            }
            for name in erasers
        }
    return results


def timings(segmenter) -> dict:
    import torch

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    result = {}
    for label, (height, width) in (("1024x768 image", (768, 1024)), ("1300x2000 page", (2000, 1300))):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        segmenter.probabilities(pixels[:64, :64])
        started = time.perf_counter()
        segmenter.probabilities(pixels)
        result[f"network over a whole {label}, s"] = round(time.perf_counter() - started, 2)
    return result


def evaluate(count: int, with_real: bool, plain_inpainter: str, double_inpainter: str | None = None) -> dict:
    from evaluation import datasets
    from executors.text_eraser.backends import NavierStokesInpainter, TeleaInpainter
    from executors.text_eraser.learned import PartialConvInpainter, TextSegmenterMask

    segmenter = TextSegmenterMask(threads=2)
    inpainters = {
        "OpenCV Telea": TeleaInpainter(grain=False),
        "OpenCV Navier-Stokes": NavierStokesInpainter(grain=False),
        "Telea + grain (default)": TeleaInpainter(),
        "partial conv. (plain)": PartialConvInpainter(checkpoint=plain_inpainter),
        "partial conv. correcting Telea": PartialConvInpainter(),
    }
    if double_inpainter and os.path.isfile(double_inpainter):
        inpainters[INPAINTERS[4]] = PartialConvInpainter(checkpoint=double_inpainter)
    report: dict = {"generated": generated(count, segmenter, inpainters), "time": timings(segmenter)}
    if with_real:
        available = [name for name in ("comics", "photos") if not datasets.missing(*_sources(name))]
        report["real"] = real(available)
        report["real_missing"] = [name for name in ("comics", "photos") if name not in available]
    return report


def _sources(set_name: str) -> list[str]:
    from evaluation import image_translation as it

    return it.SETS[set_name].sources


def markdown(report: dict) -> str:
    lines = ["### Generated (held-out), per background", ""]
    measured = [name for name in INPAINTERS if name in next(iter(report["generated"].values()))]
    lines.append(
        "| background | images | mask F1 heuristic | mask F1 network | "
        + " | ".join(f"{name}: PSNR dB / SSIM" for name in measured)
        + " |"
    )
    lines.append("|---" * (4 + len(measured)) + "|")
    for kind, row in report["generated"].items():
        cells = [kind, str(row["images"])]
        for name in ("heuristic mask", "network mask"):
            score = row[name]
            cells.append(f"{score['f1']:.3f} (P {score['precision']:.2f}, R {score['recall']:.2f})")
        for name in measured:
            cells.append(f"{row[name]['psnr']:.1f} / {row[name]['ssim']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    if "real" in report:
        for set_name, rows in report["real"].items():
            lines += ["", f"### Real: {set_name}", ""]
            lines.append(
                "| configuration | source words left ↓ | pixels changed outside text areas ↓ | s per image (median) |"
            )
            lines.append("|---|---|---|---|")
            for name, row in rows.items():
                share = 100 * row["source_words_left"] / max(1, row["source_words"])
                lines.append(
                    f"| {name} | {share:.1f} % ({row['source_words_left']}/{row['source_words']}) | "
                    f"{row['changed_outside_percent']:.3f} % | {row['seconds_median']:.2f} |"
                )
    lines += ["", "### Time (2 CPU threads)", ""]
    lines += [f"- {name}: {value}" for name, value in report["time"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal eval eraser", description="Measure the learned eraser.")
    parser.add_argument("--count", type=int, default=40, help="generated images per background kind (default 40)")
    parser.add_argument(
        "--plain-inpainter",
        default=shipped_checkpoint("text_eraser", "inpainter-cpu-plain.pt"),
        help="the paper's plain partial-convolution U-Net to compare (`train inpainter --config cpu-plain`)",
    )
    parser.add_argument(
        "--double-inpainter",
        default=shipped_checkpoint("text_eraser", "inpainter-cpu-double.pt"),
        help="the seed's deeper (double) partial-convolution U-Net, where there is one "
        "(`train inpainter --config cpu-double`)",
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real comic pages and photos")
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args(argv)
    report = evaluate(args.count, not args.no_real, args.plain_inpainter, args.double_inpainter)
    text = markdown(report)
    print(text)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(text)
    return 0
