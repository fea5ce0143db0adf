"""Accuracy measures shared by the tests, the benchmarks and model evaluation."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    """Levenshtein distance (substitutions + deletions + insertions) between two strings or word lists."""
    previous = list(range(len(hypothesis) + 1))
    for i, expected in enumerate(reference, start=1):
        current = [i]
        for j, found in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (expected != found)))
        previous = current
    return previous[-1]


def character_error_rate(reference: str, hypothesis: str) -> float:
    return edit_distance(reference, hypothesis) / max(len(reference), 1)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits / reference words, ignoring case and punctuation: the usual ASR accuracy measure."""

    def words(text: str) -> list[str]:
        return re.sub(r"[^\w\s']", " ", text.lower()).split()

    expected, heard = words(reference), words(hypothesis)
    if not expected:
        return float(len(heard) > 0)
    return edit_distance(expected, heard) / len(expected)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def bleu4(references: list[list[str]], hypotheses: list[list[str]]) -> float:
    """Corpus BLEU-4 (Papineni et al.), one reference per hypothesis, no smoothing."""
    matches, totals = [0] * 4, [0] * 4
    reference_length = hypothesis_length = 0
    for reference, hypothesis in zip(references, hypotheses):
        reference_length += len(reference)
        hypothesis_length += len(hypothesis)
        for n in range(1, 5):
            grams = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
            truth = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
            matches[n - 1] += sum(min(count, truth[gram]) for gram, count in grams.items())
            totals[n - 1] += max(0, len(hypothesis) - n + 1)
    if min(matches) == 0 or hypothesis_length == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = min(0.0, 1 - reference_length / hypothesis_length)
    return math.exp(log_precision + brevity)


def token_error_rate(references: list[list[str]], hypotheses: list[list[str]]) -> float:
    edits = sum(edit_distance(reference, hypothesis) for reference, hypothesis in zip(references, hypotheses))
    return edits / max(1, sum(len(reference) for reference in references))
