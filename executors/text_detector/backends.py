"""Text detection backends: `detect(pixels, language) -> list[TextRegion]`, one region per block of text.

`pixels` is an RGB uint8 array; `language` an ISO 639-1 code already normalised by the executor. Each
backend's `check_language(language)` raises UnsupportedLanguageError for a language it cannot read.

Backends are built from two parts: something that finds text lines (Tesseract's layout analysis or
RapidOCR's detector) and something that reads them (Tesseract, RapidOCR's recogniser or a transformers
model). Every backend returns `Line`s and leaves grouping them into regions to `regions_from_lines`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import statistics
import subprocess
import tempfile
from typing import Hashable, Optional

import cv2
import numpy as np
from PIL import Image

from transmodal import languages
from transmodal.backends import Registry
from transmodal.docs import TextRegion, TextStyle
from transmodal.errors import ConfigurationError, ModelNotFoundError, UnsupportedLanguageError
from transmodal.fonts import is_cjk
from transmodal.models import load_pretrained, model_reference, torch_device

DETECTORS: Registry = Registry("text detection")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclasses.dataclass
class Line:
    """One line of text (a column, for vertical text) as an engine found it."""

    box: Box
    text: str = ""
    confidence: float = 0.0  # 0..1
    block: Optional[Hashable] = None  # the engine's own paragraph id, when its layout analysis gives one

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def vertical(self) -> bool:
        # A column of several characters is much taller than wide; a horizontal line never is.
        return len(self.text.strip()) >= 2 and self.height >= 1.5 * self.width


# --- Tesseract ---------------------------------------------------------------------------------------

# ISO 639-1 -> Tesseract traineddata names where they differ from ISO 639-2/T (languages.iso3).
TESSERACT_NAMES = {"zh": "chi_sim"}


@functools.lru_cache(maxsize=None)
def installed_tesseract_languages(binary: str) -> frozenset[str]:
    listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=60).stdout
    # The first line is a header ("List of available languages in ..."), the rest one name a line.
    return frozenset(line.strip() for line in listed.splitlines()[1:] if line.strip())


@DETECTORS.register("tesseract")
class TesseractDetector:
    """Debian's Tesseract 5 (LSTM): finds blocks, paragraphs and lines itself and reads them.

    `psm` 3 (automatic page segmentation) groups lines into paragraphs; on our generated signs it reads as
    well as 11 (sparse text), which splits every line into its own block (README: measurements).
    """

    def __init__(self, binary: str = "tesseract", psm: int = 3, timeout: float = 60.0):
        if shutil.which(binary) is None:
            raise ModelNotFoundError(
                f"{binary!r} not found: install Debian's Tesseract and its language data "
                "(apt-get install tesseract-ocr tesseract-ocr-eng, or run scripts/install-system.sh)"
            )
        self.binary = binary
        self.psm = psm
        self.timeout = timeout
        self.installed = installed_tesseract_languages(binary)

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

    def _words(self, images: list[np.ndarray], language: str, psm: int) -> list[list[dict]]:
        """Tesseract's TSV word rows (text, conf, box, block/par/line numbers) of each RGB or grey image.

        All images go to one process, listed in a file, so Tesseract loads its model once instead of once
        per line (4 lines: 0.27 s instead of 0.76 s).
        """
        with tempfile.TemporaryDirectory(prefix="transmodal-ocr-") as folder:
            paths = []
            for index, image in enumerate(images):
                paths.append(os.path.join(folder, f"{index}.png"))
                bgr_or_grey = image if image.ndim == 2 else np.ascontiguousarray(image[..., ::-1])
                cv2.imwrite(paths[-1], bgr_or_grey, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            listing = os.path.join(folder, "images.txt")
            with open(listing, "w") as file:
                file.write("\n".join(paths) + "\n")
            command = [self.binary, listing, "stdout", "-l", self.tesseract_language(language), "--psm", str(psm),
                       "tsv"]
            # Run it ourselves rather than through pytesseract, so that the thread limit applies to Tesseract
            # only: its OpenMP threads make it ~4x slower on small images, and the limit in our own
            # environment would also cap torch's threads in this process.
            result = subprocess.run(command, capture_output=True, timeout=self.timeout,
                                    env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        if result.returncode != 0:
            raise RuntimeError(f"tesseract failed: {result.stderr.decode(errors='replace').strip()}")
        rows = result.stdout.decode("utf-8", errors="replace").splitlines()
        words: list[list[dict]] = [[] for _ in images]
        header = rows[0].split("\t") if rows else []
        for row in rows[1:]:
            word = dict(zip(header, row.split("\t")))
            # Level 5 rows are words; a negative confidence marks a layout row, not recognised text.
            if word.get("level") == "5" and float(word["conf"]) >= 0 and word.get("text", "").strip():
                words[int(word["page_num"]) - 1].append(word)  # one page per listed image
        return words

    def find_lines(self, pixels: np.ndarray, language: str) -> list[Line]:
        lines_by_number: dict[tuple[str, str, str], list[dict]] = {}
        for word in self._words([pixels], language, self.psm)[0]:
            key = (word["block_num"], word["par_num"], word["line_num"])
            lines_by_number.setdefault(key, []).append(word)
        lines = []
        for (block, paragraph, _), words in lines_by_number.items():
            line = _line_from_words(words)
            line.block = (block, paragraph)
            lines.append(line)
        return lines

    def read_lines(self, crops: list[np.ndarray], language: str) -> list[Line]:
        """Read cropped lines (psm 7), and vertical columns of a CJK language (psm 5); boxes are the crops'."""
        lines = [Line(box=(0, 0, crop.shape[1], crop.shape[0])) for crop in crops]
        vertical = [language in languages.CJK_LANGUAGES and crop.shape[0] >= 1.5 * crop.shape[1] for crop in crops]
        for psm, columns in ((7, False), (5, True)):
            indices = [index for index, is_column in enumerate(vertical) if is_column == columns]
            if not indices:
                continue
            # A line crop reads better in grey (CER 0.004 vs 0.02 on signs, README); a whole page does not.
            greys = [cv2.cvtColor(crops[index], cv2.COLOR_RGB2GRAY) for index in indices]
            for index, words in zip(indices, self._words(greys, language, psm)):
                if words:
                    lines[index] = _line_from_words(words)
        return lines

    def detect(self, pixels: np.ndarray, language: str) -> list[TextRegion]:
        return regions_from_lines(self.find_lines(pixels, language), language)


def _line_from_words(words: list[dict]) -> Line:
    boxes = [(int(w["left"]), int(w["top"]), int(w["left"]) + int(w["width"]), int(w["top"]) + int(w["height"]))
             for w in words]
    texts = [w["text"].strip() for w in words]
    confidences = [float(w["conf"]) / 100 for w in words]
    return Line(box=_union(boxes), text=" ".join(texts), confidence=_weighted_confidence(texts, confidences))


# --- RapidOCR ----------------------------------------------------------------------------------------

@DETECTORS.register("rapidocr")
class RapidOCRDetector:
    """RapidOCR: PaddleOCR's PP-OCRv4 detector and recogniser as ONNX models shipped in the wheel.

    Its recogniser knows Chinese and English characters only: it reads "Größe" as "Grobe". Other Latin
    languages are refused unless listed in `languages` (accepting lossy reads); the detector itself works
    for any script and is what the `rapidocr+tesseract` and `transformers` backends use to find lines.
    """

    def __init__(self, languages: list[str] | None = None, threads: int = -1, box_threshold: float = 0.5):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as error:
            raise ModelNotFoundError(
                f"RapidOCR is not installed ({error}): pip install onnxruntime pyclipper shapely six && "
                "pip install --no-deps rapidocr-onnxruntime (the `ocr` extra of transmodal)"
            ) from error
        # threads: onnxruntime's intra-op threads; -1 lets it use every core.
        self.engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, box_thresh=box_threshold,
                               print_verbose=False)
        self.languages = set(languages or ["en", "zh"])

    def check_language(self, language: str) -> None:
        if language not in self.languages:
            raise UnsupportedLanguageError(
                f"RapidOCR's recogniser reads Chinese and English characters only, not "
                f"{languages.name(language)} ({language}) (accents and umlauts would be lost); use backend "
                f"'rapidocr+tesseract' or 'tesseract', or list {language!r} in backend_options.languages"
            )

    def find_line_boxes(self, pixels: np.ndarray) -> list[Box]:
        bgr = np.ascontiguousarray(pixels[..., ::-1])  # RapidOCR takes arrays as OpenCV's BGR
        quads, _ = self.engine(bgr, use_cls=False, use_rec=False)
        boxes = [(float(np.min(q[:, 0])), float(np.min(q[:, 1])), float(np.max(q[:, 0])), float(np.max(q[:, 1])))
                 for q in (np.asarray(quad) for quad in (quads or []))]
        return merge_line_fragments(boxes)

    def read_lines(self, pixels: np.ndarray, boxes: list[Box]) -> list[Line]:
        crops = []
        for box in boxes:
            crop = np.ascontiguousarray(crop_line(pixels, box)[..., ::-1])
            # Like RapidOCR's own pipeline: a tall crop is a vertical line, turned to lie horizontally.
            crops.append(np.rot90(crop) if crop.shape[0] >= 1.5 * crop.shape[1] else crop)
        if not crops:
            return []
        results, _ = self.engine.text_rec(crops)
        return [Line(box=box, text=result[0].strip(), confidence=float(result[1]))
                for box, result in zip(boxes, results)]

    def detect(self, pixels: np.ndarray, language: str) -> list[TextRegion]:
        return regions_from_lines(self.read_lines(pixels, self.find_line_boxes(pixels)), language)


@DETECTORS.register("rapidocr+tesseract")
class RapidOCRTesseractDetector:
    """RapidOCR's line boxes, each line read by Tesseract in the document's language.

    The DB detector finds text on photos and textures where Tesseract's own layout analysis finds none,
    and Tesseract reads every language it has data for (umlauts, accents) where RapidOCR cannot. In the
    languages RapidOCR's recogniser covers fully (English, Chinese) its reading is kept: it was the more
    accurate one there (benchmarks/ocr_backends.py; Tesseract adds stray marks such as "No. smoking").
    """

    def __init__(self, binary: str = "tesseract", threads: int = -1, box_threshold: float = 0.5,
                 timeout: float = 60.0):
        self.tesseract = TesseractDetector(binary=binary, timeout=timeout)
        self.line_finder = RapidOCRDetector(threads=threads, box_threshold=box_threshold)

    def check_language(self, language: str) -> None:
        self.tesseract.check_language(language)

    def detect(self, pixels: np.ndarray, language: str) -> list[TextRegion]:
        boxes = self.line_finder.find_line_boxes(pixels)
        if not boxes:
            return []
        if language in self.line_finder.languages:
            return regions_from_lines(self.line_finder.read_lines(pixels, boxes), language)
        read = self.tesseract.read_lines([crop_line(pixels, box) for box in boxes], language)
        lines = [Line(box=box, text=line.text, confidence=line.confidence) for box, line in zip(boxes, read)]
        return regions_from_lines(lines, language)


# --- transformers ------------------------------------------------------------------------------------

@DETECTORS.register("transformers")
class TransformersDetector:
    """A TrOCR-style VisionEncoderDecoderModel reading the lines that `line_detector` finds.

    `model` is a hub id (found in the local cache) or a directory written by save_pretrained, holding the
    model, its image processor (preprocessor_config.json) and its tokenizer. TrOCR models read one printed
    or handwritten line at a time in the language they were trained on, so `check_language` defers to
    the line detector only.
    """

    ENV_VAR = "TRANSMODAL_OCR_MODEL"

    def __init__(self, model: str | None = None, line_detector: str = "tesseract", device: str = "auto",
                 batch_size: int = 16, max_new_tokens: int = 64, num_beams: int = 1,
                 line_detector_options: dict | None = None):
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        if line_detector not in ("tesseract", "rapidocr"):
            raise ConfigurationError(f"line_detector must be 'tesseract' or 'rapidocr', not {line_detector!r}")
        # The model before the line detector: a missing model must fail fast, before anything slow is loaded.
        reference = model_reference(model, self.ENV_VAR)
        self.image_processor = load_pretrained(AutoImageProcessor.from_pretrained, reference, "model", self.ENV_VAR)
        self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, reference, "model", self.ENV_VAR)
        self.model = load_pretrained(VisionEncoderDecoderModel.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.line_detector = DETECTORS.create(line_detector, **(line_detector_options or {}))

    def check_language(self, language: str) -> None:
        if isinstance(self.line_detector, TesseractDetector):
            self.line_detector.check_language(language)

    def find_lines(self, pixels: np.ndarray, language: str) -> list[Line]:
        if isinstance(self.line_detector, TesseractDetector):
            return self.line_detector.find_lines(pixels, language)  # its text is replaced by the model's
        return [Line(box=box) for box in self.line_detector.find_line_boxes(pixels)]

    def read(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        import torch

        results: list[tuple[str, float]] = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start:start + self.batch_size]
            # PIL images: a numpy crop only 3 pixels high could be mistaken for channels-first.
            images = [Image.fromarray(crop) for crop in batch]
            pixel_values = self.image_processor(images=images, return_tensors="pt").pixel_values.to(self.device)
            with torch.inference_mode():
                output = self.model.generate(pixel_values, max_new_tokens=self.max_new_tokens,
                                             num_beams=self.num_beams, output_scores=True,
                                             return_dict_in_generate=True)
                token_scores = self.model.compute_transition_scores(
                    output.sequences, output.scores, getattr(output, "beam_indices", None), normalize_logits=True
                )
            texts = self.tokenizer.batch_decode(output.sequences, skip_special_tokens=True)
            # The decoder start token has no score: generated tokens are sequences[:, 1:].
            generated = output.sequences[:, -token_scores.shape[1]:].cpu().numpy()
            for text, tokens, scores in zip(texts, generated, token_scores.float().cpu().numpy()):
                results.append((text.strip(), self._confidence(tokens, scores)))
        return results

    def _confidence(self, tokens: np.ndarray, scores: np.ndarray) -> float:
        """Geometric mean of the generated tokens' probabilities, up to and including the first end token."""
        ends = np.flatnonzero(np.isin(tokens, self.model.generation_config.eos_token_id))  # an id or a list
        length = int(ends[0]) + 1 if len(ends) else len(tokens)
        return float(np.exp(np.mean(scores[:length]))) if length else 0.0

    def detect(self, pixels: np.ndarray, language: str) -> list[TextRegion]:
        lines = self.find_lines(pixels, language)
        results = self.read([crop_line(pixels, line.box) for line in lines])
        for line, (text, confidence) in zip(lines, results):
            line.text, line.confidence = text, confidence
        return regions_from_lines(lines, language)


# --- From lines to regions ---------------------------------------------------------------------------

def crop_line(pixels: np.ndarray, box: Box, margin: float = 0.15) -> np.ndarray:
    """The line's pixels with a margin of 15 % of its height: recognisers misread glyphs cut at the edge."""
    x0, y0, x1, y1 = box
    pad = margin * min(x1 - x0, y1 - y0)
    height, width = pixels.shape[:2]
    top, bottom = max(0, int(y0 - pad)), min(height, int(np.ceil(y1 + pad)))
    left, right = max(0, int(x0 - pad)), min(width, int(np.ceil(x1 + pad)))
    return pixels[top:max(bottom, top + 1), left:max(right, left + 1)]


def merge_line_fragments(boxes: list[Box]) -> list[Box]:
    """Join boxes that are pieces of one line (side by side, overlapping or close, on the same baseline).

    RapidOCR's detector sometimes splits a line with wide letter spacing into overlapping pieces, whose
    texts would then repeat the letters in the overlap ("Good d morning").
    """
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _same_line(merged[i], merged[j]):
                    merged[i] = _union([merged[i], merged[j]])
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


def _same_line(a: Box, b: Box) -> bool:
    if all(box[3] - box[1] >= 1.5 * (box[2] - box[0]) for box in (a, b)):
        return False  # two columns of vertical text side by side, not pieces of one horizontal line
    height = min(a[3] - a[1], b[3] - b[1])
    vertical_overlap = min(a[3], b[3]) - max(a[1], b[1])
    horizontal_gap = max(a[0], b[0]) - min(a[2], b[2])
    return vertical_overlap >= 0.6 * height and horizontal_gap <= 0.5 * height


# Languages that capitalise nouns: a capital at a line's start does not mean a new phrase.
NOUN_CAPITALISING_LANGUAGES = {"de", "lb"}


def regions_from_lines(lines: list[Line], language: str = "en") -> list[TextRegion]:
    """One region per phrase of a block of lines; lines without any letter or digit (noise read as '|', '~')
    are dropped."""
    lines = [line for line in lines if has_words(line.text)]
    regions = []
    for block in group_into_blocks(lines):
        # Phrases keep their block's alignment: "No smoking" under "Emergency exit" stays left-aligned.
        alignment = block_alignment(block)
        phrases = [block] if language in NOUN_CAPITALISING_LANGUAGES else split_phrases(block)
        regions += [region_from_block(phrase, alignment) for phrase in phrases]
    return regions


def has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


def group_into_blocks(lines: list[Line]) -> list[list[Line]]:
    """Blocks from the engine's paragraph ids where it gives them, else from geometry (`_same_block`)."""
    blocks: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: (line.box[1], line.box[0])):
        if line.block is not None:
            joined = [block for block in blocks if block[0].block == line.block]
        else:
            joined = [block for block in blocks if any(_same_block(other, line) for other in block)]
        blocks = [block for block in blocks if all(block is not other for other in joined)]
        blocks.append([line] + [other for block in joined for other in block])
    return blocks


# A line ending in one of these (or in , - : ;) goes on into the next, whatever the next line's first letter.
CONTINUATION_WORDS = {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}


def split_phrases(block: list[Line]) -> list[list[Line]]:
    """A block split where a new phrase starts: a line beginning with a capital after a line that does not
    run on. On signs and menus, stacked lines are often separate items ("Hot soup" / "Cold drinks") that
    translate wrongly as one sentence; a sentence wrapped over lines goes on in lower case. All-capital
    text and scripts without case give no such signal and stay one block."""
    lines = sorted(block, key=lambda line: line.box[1])
    if len(lines) < 2 or any(line.vertical for line in lines):
        return [block]
    phrases = [[lines[0]]]
    for previous, line in zip(lines, lines[1:]):
        words = previous.text.rstrip().split()
        runs_on = previous.text.rstrip()[-1:] in ",-:;" or (words and words[-1].lower() in CONTINUATION_WORDS)
        first = next((char for char in line.text if char.isalpha()), "")
        starts_phrase = first.isupper() and not line.text.isupper() and not previous.text.isupper()
        if starts_phrase and not runs_on:
            phrases.append([line])
        else:
            phrases[-1].append(line)
    return phrases


def _same_block(a: Line, b: Line) -> bool:
    """Neighbouring lines of one paragraph: same size, close one after the other, overlapping sideways."""
    if a.vertical != b.vertical:
        return False
    if a.vertical:  # columns: the same tests with x and y swapped
        a = Line(box=(a.box[1], a.box[0], a.box[3], a.box[2]))
        b = Line(box=(b.box[1], b.box[0], b.box[3], b.box[2]))
    if not 0.7 <= b.height / max(a.height, 1) <= 1.4:
        return False
    gap = max(a.box[1], b.box[1]) - min(a.box[3], b.box[3])
    sideways_overlap = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
    return gap <= min(a.height, b.height) and sideways_overlap > 0


def block_alignment(lines: list[Line]) -> str:
    if all(line.vertical for line in lines):
        return "left"
    return estimate_alignment(lines, statistics.median(line.height for line in lines))


def region_from_block(lines: list[Line], alignment: str | None = None) -> TextRegion:
    vertical = all(line.vertical for line in lines)
    # Reading order inside the block: rows top to bottom; vertical columns right to left.
    lines = sorted(lines, key=lambda line: -line.box[0] if vertical else line.box[1])
    x0, y0, x1, y1 = _union([line.box for line in lines])
    texts = [line.text for line in lines]
    font_size = statistics.median(line.width if vertical else line.height for line in lines)
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[[float(v) for v in line.box] for line in lines],
        text=join_lines(texts),
        confidence=_weighted_confidence(texts, [line.confidence for line in lines]),
        style=TextStyle(font_size=float(font_size), direction="vertical" if vertical else "horizontal",
                        alignment=alignment or block_alignment(lines)),
    )


def join_lines(texts: list[str]) -> str:
    """Lines joined by spaces; a word hyphenated at a line end is rejoined; CJK lines join without space."""
    joined = ""
    for text in (text.strip() for text in texts):
        if not joined:
            joined = text
        elif joined.endswith("-") and len(joined) > 1 and joined[-2].isalpha() and text[:1].islower():
            joined = joined[:-1] + text
        elif is_cjk(joined[-1]) and is_cjk(text[:1]):
            joined += text
        else:
            joined += " " + text
    return joined


def estimate_alignment(lines: list[Line], font_size: float) -> str:
    """'left', 'center' or 'right': the edge the lines line up on. A single line, or lines of equal length,
    read as centred: a translation of another length then stays where the eye found the original (signs,
    speech balloons), rather than drifting to one side of it."""
    if len(lines) < 2:
        return "center"
    spreads = {
        "center": np.ptp([(line.box[0] + line.box[2]) / 2 for line in lines]),
        "left": np.ptp([line.box[0] for line in lines]),
        "right": np.ptp([line.box[2] for line in lines]),
    }
    # Lines of equal length line up on every edge: prefer the first, within a quarter of a line height.
    best = min(spreads.values())
    return next(name for name, spread in spreads.items() if spread <= best + 0.25 * font_size)


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _weighted_confidence(texts: list[str], confidences: list[float]) -> float:
    """Mean confidence weighted by length, so a misread one-letter word weighs less than a long one."""
    weights = [max(len(text), 1) for text in texts]
    return float(np.clip(np.average(confidences, weights=weights), 0.0, 1.0)) if confidences else 0.0


# --- SEE ---------------------------------------------------------------------------------------------

@DETECTORS.register("see")
def see_detector(**options):
    """The SEE spatial-transformer model (executors/text_detector/see), imported only when chosen (torch)."""
    from executors.text_detector.see.backend import SeeDetector

    return SeeDetector(**options)
