"""Character error rate and time per image of the TextDetector backends on generated signs.

    python benchmarks/ocr_backends.py [--count 30] [--seed 7]

English: `transmodal.synthetic.sign_set` (flat, gradient, texture and photo backgrounds in turn); German:
signs with umlauts and ß drawn the same way. CER = edit distance / reference length over the whole set,
comparing each document's `text` (lines joined by spaces) with the true text. "lines found" is the share of
true lines that some detected line box overlaps with IoU >= 0.5. Times are per image, after a warm-up; on
a shared machine trust CPU seconds (this process and Tesseract's, all threads) more than wall seconds.
Runs in under a minute on 2 idle cores.
"""

from __future__ import annotations

import argparse
import os
import time

from docarray import DocList

from executors.text_detector.executor import TextDetector
from transmodal import synthetic
from transmodal.docs import MediaDoc
from transmodal.media import encode_image
from transmodal.metrics import box_iou as iou
from transmodal.metrics import edit_distance

GERMAN_SIGNS = [
    ["Größe"],
    ["Straße gesperrt"],
    ["Ausgang"],
    ["Frühstück", "ab sieben Uhr"],
    ["Bitte nicht rauchen"],
    ["Öffnungszeiten"],
    ["Bäckerei", "Kaffee und Kuchen"],
    ["Fußgängerzone"],
    ["Grüße aus Köln"],
    ["Süße Brötchen"],
]

# (label, backend, backend_options); RapidOCR is allowed German here to measure what it loses.
BACKENDS = [
    ("tesseract (psm 3)", "tesseract", {}),
    ("tesseract (psm 11)", "tesseract", {"psm": 11}),
    ("rapidocr", "rapidocr", {"languages": ["en", "zh", "de"]}),
    ("rapidocr+tesseract", "rapidocr+tesseract", {}),
]


def german_signs(seed: int) -> list[synthetic.Sign]:
    return [
        synthetic.make_sign(
            lines, background=synthetic.BACKGROUNDS[index % len(synthetic.BACKGROUNDS)], seed=seed * 1000 + index
        )
        for index, lines in enumerate(GERMAN_SIGNS)
    ]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (Tesseract): steadier than wall time on a busy
    machine, and it counts every thread."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def measure(detector: TextDetector, signs: list[synthetic.Sign], language: str) -> dict:
    errors = reference_length = lines_found = lines_total = 0
    seconds = cpu = 0.0
    for sign in signs:
        docs = DocList[MediaDoc]([MediaDoc(image=encode_image(sign.image), source_lang=language)])
        start, start_cpu = time.perf_counter(), cpu_seconds()
        detector.detect(docs, {})
        seconds += time.perf_counter() - start
        cpu += cpu_seconds() - start_cpu
        doc = docs[0]
        if doc.failed:
            raise RuntimeError(doc.error)
        hypothesis = " ".join(doc.text.split())
        errors += edit_distance(hypothesis, sign.text)
        reference_length += len(sign.text)
        found = [line for region in doc.regions for line in region.lines]
        lines_found += sum(any(iou(truth, box) >= 0.5 for box in found) for truth in sign.line_boxes)
        lines_total += len(sign.line_boxes)
    return {
        "cer": errors / reference_length,
        "lines": lines_found / lines_total,
        "seconds": seconds / len(signs),
        "cpu": cpu / len(signs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=30, help="English signs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sets = [("en", synthetic.sign_set(args.count, seed=args.seed)), ("de", german_signs(args.seed))]

    print(f"{'backend':<20} {'lang':<4} {'signs':>5} {'CER':>7} {'lines found':>11} {'s/image':>8} {'CPU s/image':>11}")
    for label, backend, options in BACKENDS:
        detector = TextDetector(backend=backend, backend_options=options)
        detector.detect(DocList[MediaDoc]([MediaDoc(image=encode_image(sets[0][1][0].image))]), {})  # warm up
        for language, signs in sets:
            result = measure(detector, signs, language)
            print(
                f"{label:<20} {language:<4} {len(signs):>5} {result['cer']:>7.3f} {result['lines']:>11.0%} "
                f"{result['seconds']:>8.3f} {result['cpu']:>11.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
