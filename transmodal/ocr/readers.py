"""Page readers built from the OCR engines alone (no model weights): the TextDetector's `tesseract`,
`rapidocr` and `rapidocr+tesseract` backends, also used by the ImageCaptioner's `ocr` backend."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable

import numpy as np

from transmodal import words
from transmodal.ocr.lines import Line
from transmodal.ocr.rapidocr import DET_BOX_THRESHOLD, RapidOCREngine
from transmodal.ocr.tesseract import TesseractEngine
from transmodal.stages import LineFinder, LineReader, TextReader


class TesseractReader:
    """Tesseract alone: its page segmentation (`psm` 3: blocks, paragraphs, lines) and its reading.

    On our generated signs psm 3 reads as well as 11 (sparse text), which makes every line its own block.
    """

    def __init__(self, binary: str = "tesseract", psm: int = 3, timeout: float = 60.0):
        self.engine = TesseractEngine(binary=binary, psm=psm, timeout=timeout)

    def check_language(self, language: str) -> None:
        self.engine.check_language(language)

    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]:
        return self.engine.find_lines(pixels, language)  # (found and read at once: nothing for `on_lines`)


class FoundThenRead:
    """Lines found by one engine, read by another; the finder's paragraph ids are kept."""

    def __init__(self, finder: LineFinder, reader: LineReader):
        self.finder = finder
        self.reader = reader

    def check_language(self, language: str) -> None:
        self.reader.check_language(language)

    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]:
        found = self.finder.find_lines(pixels, language)
        if not found:
            return []
        if on_lines is not None:
            on_lines(found)
        read = self.reader.read_lines(pixels, [line.box for line in found], language)
        return [
            dataclasses.replace(line, text=text.text, confidence=text.confidence) for line, text in zip(found, read)
        ]


def rapidocr_reader(
    languages: list[str] | None = None,
    threads: int = -1,
    box_threshold: float = DET_BOX_THRESHOLD,
    quantized: bool = True,
) -> TextReader:
    """RapidOCR's detector and recogniser (English and Chinese characters only)."""
    engine = RapidOCREngine(languages=languages, threads=threads, box_threshold=box_threshold, quantized=quantized)
    return FoundThenRead(engine, engine)


# The other crops (transmodal.ocr.rapidocr.CROPS) RapidOCR reads a doubtful line in, in this order. On the
# evaluation's real comic pages (1363 words) OCR word accuracy went from 92.9 % (the first look only) to
# 94.6 %, on its real photos (99 words) from 88.9 % to 90.9 %; only doubtful lines are read again.
SECOND_LOOKS = ("padded", "flat", "enlarged")


class RapidOCRTesseractReader:
    """RapidOCR's line boxes, each line read by Tesseract in the document's language.

    The DB detector finds text on photos and textures where Tesseract's own layout analysis finds none,
    and Tesseract reads every language it has data for (umlauts, accents) where RapidOCR cannot. In the
    languages RapidOCR's recogniser covers fully (English, Chinese) RapidOCR reads each line; the lines it did
    not read as words are read again by Tesseract and by RapidOCR cropped other ways (`second_looks`), and
    the reading with more dictionary words wins
    (`combine`; RapidOCR alone was the more accurate of the two on generated signs, but drops the spaces of
    real comic lettering and tracked capitals, and misreads some hand-lettered capitals).
    """

    def __init__(
        self,
        binary: str = "tesseract",
        threads: int = -1,
        box_threshold: float = DET_BOX_THRESHOLD,
        timeout: float = 60.0,
        combine: bool = True,
        second_looks: bool = True,
        quantized: bool = True,
    ):
        self.tesseract = TesseractEngine(binary=binary, timeout=timeout)
        self.rapidocr = RapidOCREngine(threads=threads, box_threshold=box_threshold, quantized=quantized)
        self.combine = combine  # in RapidOCR's languages, also read each line with Tesseract; keep the better
        self.second_looks = second_looks  # ... and with RapidOCR again, cropped other ways (with `combine`)

    def check_language(self, language: str) -> None:
        self.tesseract.check_language(language)

    def _second_looks(
        self, pixels: np.ndarray, boxes: list, doubtful: list[int], language: str
    ) -> dict[int, list[Line]]:
        """RapidOCR's readings of the doubtful lines cropped other ways (`SECOND_LOOKS`), each line until a look
        reads as words: each crop is right on some lines where the first look was wrong."""
        looks_of: dict[int, list[Line]] = {index: [] for index in doubtful}
        # Without a word list (Chinese) no reading can be told better than the first: no second looks.
        pending = doubtful if self.second_looks and words.vocabulary(language) is not None else []
        for crop in SECOND_LOOKS:
            if not pending:
                break
            looks = self.rapidocr.read_lines(pixels, [boxes[i] for i in pending], language, crop=crop)
            for index, look in zip(pending, looks):
                looks_of[index].append(look)
            pending = [index for index, look in zip(pending, looks) if not reads_as_words(look.text, language)]
        return looks_of

    def read(
        self, pixels: np.ndarray, language: str, on_lines: Callable[[list[Line]], None] | None = None
    ) -> list[Line]:
        if language not in self.rapidocr.languages:
            return FoundThenRead(self.rapidocr, self.tesseract).read(pixels, language, on_lines)
        found = self.rapidocr.find_lines(pixels, language)
        if not found:
            return []
        if on_lines is not None:
            on_lines(found)
        boxes = [line.box for line in found]
        by_rapidocr = self.rapidocr.read_lines(pixels, boxes, language)
        if not self.combine:
            return [dataclasses.replace(f, text=r.text, confidence=r.confidence) for f, r in zip(found, by_rapidocr)]
        # Tesseract reads only the lines RapidOCR did not read as words alone: on 3 real comic pages that is
        # 65 of 226 lines, and where RapidOCR's reading was all words Tesseract's never read better ("I AM."
        # against "I a if."). Most of Tesseract's time saved, none of its help lost.
        doubtful = [index for index, line in enumerate(by_rapidocr) if not reads_as_words(line.text, language)]
        # Tesseract (one single-threaded process) reads while RapidOCR looks again: both cores stay busy.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            tesseract_reading = pool.submit(self.tesseract.read_lines, pixels, [boxes[i] for i in doubtful], language)
            looks_of = self._second_looks(pixels, boxes, doubtful, language)
            by_tesseract = dict(zip(doubtful, tesseract_reading.result()))
        # A page lettered in capitals (a comic) has no line in lower case: a lower-case reading of a line
        # RapidOCR read in capitals is a misreading ("were" for a hand-lettered "LUCY?").
        capitals_page = words.lettered_in_capitals(read.text for read in by_rapidocr)
        lines = []
        for index, (line, read) in enumerate(zip(found, by_rapidocr)):
            candidates = [read] + looks_of.get(index, [])
            other = by_tesseract.get(index)
            if other is not None and not (capitals_page and words.is_all_caps(read.text) and _lower_case(other.text)):
                candidates.append(other)
            lines.append(best_line(line, candidates, language))
        return lines


def _lower_case(text: str) -> bool:
    letters = [char for char in text if char.isalpha()]
    return bool(letters) and all(char.islower() for char in letters)


def reads_as_words(text: str, language: str) -> bool:
    """Every letter of the text (misread letters corrected, lost spaces put back) is in known words, and
    no word had to be cut into uncommon words only to be so ("COWPANION": "COW PAN ION")."""
    corrected, split = words.corrected_and_split(text, language)
    known, unknown = words.word_score(split, language)
    return known > 0 and unknown == 0 and not words.has_odd_split(corrected, language)


def best_line(found: Line, candidates: list[Line], language: str) -> Line:
    """Of several readings of one line, the one with most letters in dictionary words (RapidOCR drops the
    spaces of widely tracked capitals, Tesseract misreads stylised letters: each is right where the other
    fails); ties go to the first reader."""
    # Scored as the detector will pass them on: misread letters corrected, lost spaces put back.
    texts = [words.corrected_and_split(candidate.text, language)[1] for candidate in candidates]
    chosen = candidates[texts.index(words.best_reading(texts, language))]
    return dataclasses.replace(found, text=chosen.text, confidence=chosen.confidence)


OCR_READERS: dict[str, Callable[..., TextReader]] = {
    "tesseract": TesseractReader,
    "rapidocr": rapidocr_reader,
    "rapidocr+tesseract": RapidOCRTesseractReader,
}
