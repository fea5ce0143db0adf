"""Debian's Tesseract 5 (LSTM) as a line finder and a line reader: through its library in kept worker
processes (`tesseract_api`), or by running the `tesseract` program for each call."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import subprocess
import tempfile

import cv2
import numpy as np

from transmodal import languages
from transmodal.binaries import require_binary
from transmodal.errors import UnsupportedLanguageError
from transmodal.ocr.lines import Box, Line, crop_line, union, weighted_confidence
from transmodal.ocr.tesseract_api import TesseractWorkers
from transmodal.words import join_hyphenated

# ISO 639-1 -> Tesseract traineddata names where they differ from ISO 639-2/T (languages.iso3).
TESSERACT_NAMES = {"zh": "chi_sim"}


@functools.cache
def installed_tesseract_languages(binary: str) -> frozenset[str]:
    listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=60).stdout
    # The first line is a header ("List of available languages in ..."), the rest one name a line.
    return frozenset(line.strip() for line in listed.splitlines()[1:] if line.strip())


class TesseractEngine:
    """Debian's Tesseract 5 (LSTM): finds blocks, paragraphs and lines itself and reads them.

    `psm` 3 (automatic page segmentation) groups lines into paragraphs; on our generated signs it reads as
    well as 11 (sparse text), which splits every line into its own block (README: measurements).
    """

    def __init__(self, binary: str = "tesseract", psm: int = 3, timeout: float = 60.0, kept_workers: bool = True):
        self.binary = require_binary(binary, "apt-get install tesseract-ocr tesseract-ocr-eng")
        self.psm = psm
        self.timeout = timeout
        self.installed = installed_tesseract_languages(binary)
        # kept_workers: Tesseract's library in kept worker processes (`tesseract_api`), where the program is
        # Debian's (whose library that is); otherwise the program is run for each call
        self.workers = TesseractWorkers() if kept_workers and binary == "tesseract" else None

    def tesseract_language(self, language: str) -> str:
        name = TESSERACT_NAMES.get(language, languages.iso3(language))
        if name not in self.installed:
            package = f"tesseract-ocr-{name.replace('_', '-')}"
            raise UnsupportedLanguageError(
                f"Tesseract has no data for {languages.name(language)} ({language}); installed: "
                f"{', '.join(sorted(self.installed - {'osd'}))} (apt-get install {package})"
            )
        # Vertical Japanese/Chinese is read by separate models; Tesseract picks them per block when listed.
        if f"{name}_vert" in self.installed:
            return f"{name}+{name}_vert"
        return name

    def check_language(self, language: str) -> None:
        self.tesseract_language(language)

    def close(self) -> None:
        """Stops the kept workers (the process's exit stops them too)."""
        if self.workers is not None:
            self.workers.close()

    def _words(
        self, images: list[np.ndarray], language: str, psm: int, options: tuple[str, ...] = ()
    ) -> list[list[dict]]:
        """Tesseract's TSV word rows (text, conf, box, block/par/line numbers) of each RGB or grey image;
        `options` as the program takes them (`-c name=value`).

        Run as a program, all images go to one process, listed in a file, so Tesseract loads its model once
        instead of once per line (4 lines: 0.27 s instead of 0.76 s).
        """
        if self.workers is not None:
            variables = tuple((name, value) for name, value in (option.split("=", 1) for option in options[1::2]))
            read = self.workers.rows(images, self.tesseract_language(language), psm, variables, self.timeout)
            return [[word for word in image_rows if _is_word(word)] for image_rows in read]
        with tempfile.TemporaryDirectory(prefix="transmodal-ocr-") as folder:
            paths = []
            for index, image in enumerate(images):
                paths.append(os.path.join(folder, f"{index}.png"))
                bgr_or_grey = image if image.ndim == 2 else np.ascontiguousarray(image[..., ::-1])
                cv2.imwrite(paths[-1], bgr_or_grey, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            listing = os.path.join(folder, "images.txt")
            with open(listing, "w") as file:
                file.write("\n".join(paths) + "\n")
            command = [
                self.binary,
                listing,
                "stdout",
                "-l",
                self.tesseract_language(language),
                "--psm",
                str(psm),
                *options,
                "tsv",
            ]
            # Run it ourselves rather than through pytesseract, so that the thread limit applies to Tesseract
            # only: its OpenMP threads make it ~4x slower on small images, and the limit in our own
            # environment would also cap torch's threads in this process.
            result = subprocess.run(
                command, capture_output=True, timeout=self.timeout, env={**os.environ, "OMP_THREAD_LIMIT": "1"}
            )
        if result.returncode != 0:
            raise RuntimeError(f"tesseract failed: {result.stderr.decode(errors='replace').strip()}")
        rows = result.stdout.decode("utf-8", errors="replace").splitlines()
        words: list[list[dict]] = [[] for _ in images]
        header = rows[0].split("\t") if rows else []
        for row in rows[1:]:
            word = dict(zip(header, row.split("\t")))
            if _is_word(word):
                words[int(word["page_num"]) - 1].append(word)  # one page per listed image
        return words

    def find_lines(self, pixels: np.ndarray, language: str) -> list[Line]:
        lines_by_number: dict[tuple[str, str, str], list[dict]] = {}
        for word in self._words([pixels], language, self.psm)[0]:
            key = (word["block_num"], word["par_num"], word["line_num"])
            lines_by_number.setdefault(key, []).append(word)
        lines = []
        for (block, paragraph, _), words in lines_by_number.items():
            line = line_from_words(words)
            line.block = (block, paragraph)
            lines.append(line)
        return lines

    def read_lines(self, pixels: np.ndarray, boxes: list[Box], language: str) -> list[Line]:
        """Read the given line boxes (psm 7), and vertical columns of a CJK language (psm 5)."""
        crops = [crop_line(pixels, box) for box in boxes]
        lines = [Line(box=box) for box in boxes]
        vertical = [language in languages.CJK_LANGUAGES and crop.shape[0] >= 1.5 * crop.shape[1] for crop in crops]
        for psm, columns in ((7, False), (5, True)):
            indices = [index for index, is_column in enumerate(vertical) if is_column == columns]
            if not indices:
                continue
            # A line crop reads better in grey (CER 0.004 vs 0.02 on signs, README); a whole page does not.
            greys = [cv2.cvtColor(crops[index], cv2.COLOR_RGB2GRAY) for index in indices]
            for index, words in zip(indices, self._words(greys, language, psm)):
                if words:
                    read = line_from_words(words)
                    lines[index] = Line(box=boxes[index], text=read.text, confidence=read.confidence)
        return lines

    def read_blocks(self, pixels: np.ndarray, boxes: list[Box], language: str, processes: int = 1) -> list[str]:
        """The text of each box of an RGB image read as a block of lines (psm 6), the box padded by a few
        pixels (by 15 % of its height, 4 at least) so that letters touching its edge are whole; "" for a
        box too small to read. The boxes are shared out among up to `processes` processes run at once
        (Tesseract is single-threaded here)."""
        height, width = pixels.shape[:2]
        crops, where = [], []
        for index, (x0, y0, x1, y1) in enumerate(boxes):
            pad = max(4, int(0.15 * (y1 - y0)))
            left, top = max(0, int(x0) - pad), max(0, int(y0) - pad)
            right, bottom = min(width, int(np.ceil(x1)) + pad), min(height, int(np.ceil(y1)) + pad)
            if right - left >= 4 and bottom - top >= 4:
                crops.append(cv2.cvtColor(np.ascontiguousarray(pixels[top:bottom, left:right]), cv2.COLOR_RGB2GRAY))
                where.append(index)
        texts = [""] * len(boxes)
        if crops:
            # Adaptive thresholding (Leptonica's Otsu per tile): a block on an unevenly lit photo (a page
            # darkening towards its gutter) loses the words on its darker side to one global threshold.
            options = ("-c", "thresholding_method=1")
            shares = [share for share in np.array_split(np.arange(len(crops)), max(1, processes)) if len(share)]
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(shares)) as pool:
                read = pool.map(lambda share: self._words([crops[i] for i in share], language, 6, options), shares)
                for share, share_words in zip(shares, list(read)):
                    for i, words in zip(share, share_words):
                        texts[where[i]] = block_text(words, language)
        return texts


def _is_word(row: dict) -> bool:
    """Level 5 rows are words; a negative confidence marks a layout row, not recognised text."""
    return row.get("level") == "5" and float(row["conf"]) >= 0 and bool(row.get("text", "").strip())


def block_text(words: list[dict], language: str) -> str:
    """A block's words as one text, line by line, with a word hyphenated at a line's end joined again: a
    translation wrapped as "APARCA-" / "MIENTO" reads back as "APARCAMIENTO"."""
    lines: dict[tuple[str, str, str], list[str]] = {}
    for word in words:
        key = (word.get("block_num", ""), word.get("par_num", ""), word.get("line_num", ""))
        lines.setdefault(key, []).append(word["text"].strip())
    return join_hyphenated([" ".join(line) for line in lines.values()], language)


def line_from_words(words: list[dict]) -> Line:
    boxes: list[Box] = [
        (int(w["left"]), int(w["top"]), int(w["left"]) + int(w["width"]), int(w["top"]) + int(w["height"]))
        for w in words
    ]
    texts = [w["text"].strip() for w in words]
    confidences = [float(w["conf"]) / 100 for w in words]
    return Line(box=union(boxes), text=" ".join(texts), confidence=weighted_confidence(texts, confidences))
