"""RapidOCR: PaddleOCR's PP-OCRv4 detector and recogniser as ONNX models shipped in the wheel.

Its detector (DB) finds lines of any script, also on photos and textures where Tesseract's layout analysis
finds none. Its recogniser knows Chinese and English characters only: it reads "Größe" as "Grobe", so other
languages are refused unless listed in `languages` (accepting lossy reads).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from transmodal import languages as language_names
from transmodal.errors import ModelNotFoundError, UnsupportedLanguageError
from transmodal.ocr.graph import fused_model, quantized_model
from transmodal.ocr.lines import Box, Line, crop_line, merge_line_fragments, union

# The DB detector's threshold on a box's mean text probability. RapidOCR's 0.5 drops faint or tightly
# leaded lines: on a real photographed book page (scikit-image's page.png) 2 of its 7 lines; 0.4 finds all
# 7 and adds 0-2 boxes on a real comic page (lettering it had missed, such as "GOT 'IM!").
DET_BOX_THRESHOLD = 0.4
# The detector looks at the page with its longer side at most this long: lines are found as well at that
# size (lettering on a 1327 x 2039 comic page is still about 20 pixels high) in about half the time (0.9 s
# instead of 1.65 s a page on 2 cores). The boxes are scaled back and read at full resolution.
DET_MAX_SIDE = 1600
# What the 8-bit recogniser is calibrated on (`calibration_lines`): sign and comic texts, each drawn
# `CALIBRATION_DRAWINGS` times.
CALIBRATION_TEXTS = (
    "Welcome to the museum", "Open every day", "NO SMOKING", "The library is closed today",
    "Fresh bread and coffee", "EMERGENCY EXIT", "Tickets for the train", "Hot soup 4.50",
    "I'LL COVER YOU.", "WHAT, NOW? JUST HANG-", "DO YOU THINK YOU CAN", "COMPLETE THE MISSION?",
    "Books and newspapers", "Cold drinks", "PLATFORM 9", "Wet floor", "OK, SARGE!", "Fish market",
)  # fmt: skip
CALIBRATION_DRAWINGS, CALIBRATION_SEED = 6, 12345


# Ways to crop a line for the recogniser. PP-OCR's recogniser reads a line differently for a few pixels
# more or less round it, and each way is right on some lines where the others are wrong. The detector's
# box as it is comes first: the detector already grows each box round its text (its unclip ratio), and
# RapidOCR's own pipeline crops it so. On the evaluation's real comic pages (1363 words) read in one crop
# alone: the box 92.9 % of the words, the box with 15 % of the line's height round it 92.4 %.
CROPS: dict[str, Callable[[np.ndarray, Box], np.ndarray]] = {
    "box": lambda pixels, box: crop_line(pixels, box, margin=0.0),
    "padded": crop_line,  # 15 % of the line's height all round
    "flat": lambda pixels, box: crop_line(pixels, box, vertical_margin=0.05),  # padded at the sides only
    "enlarged": lambda pixels, box: cv2.resize(
        crop_line(pixels, box), None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC
    ),
}


def calibration_lines() -> list[np.ndarray]:
    """Lines of text (RGB crops, the line and a margin) to calibrate the 8-bit recogniser on: every text of
    `CALIBRATION_TEXTS` drawn in the fonts built into OpenCV at random sizes, weights and colours, dark on
    light and light on dark, on flat, graded and noisy grounds (fixed seed). Nothing but OpenCV is used: no
    font file or photo that the detector's image may lack, and the same lines wherever it runs."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    faces = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)
    lines = []
    for index, text in enumerate(CALIBRATION_TEXTS * CALIBRATION_DRAWINGS):
        face, scale, thickness = faces[index % len(faces)], float(rng.uniform(0.7, 1.8)), int(rng.integers(1, 4))
        (width, height), baseline = cv2.getTextSize(text, face, scale, thickness)
        margin = int(rng.integers(2, 8))
        paper = rng.uniform(170, 255, 3) if index % 3 else rng.uniform(0, 90, 3)  # every third light on dark
        ink = 255 - paper + rng.uniform(-40, 40, 3)
        size = (height + baseline + 2 * margin, width + 2 * margin)
        ground = np.ones((*size, 1)) * paper
        if index % 4 == 1:  # graded
            ground = ground + np.linspace(-30, 30, size[1])[None, :, None]
        elif index % 4 == 2:  # noisy, as paper or a photographed wall
            ground = ground + rng.normal(0, 8, (*size, 1))
        line = np.ascontiguousarray(np.clip(ground, 0, 255).astype(np.uint8))
        colour = tuple(float(value) for value in np.clip(ink, 0, 255))
        cv2.putText(line, text, (margin, margin + height), face, scale, colour, thickness, cv2.LINE_AA)
        lines.append(line)
    return lines


def _session(model_path: Path, threads: int):
    """An ONNX Runtime session for one of RapidOCR's models, with two options RapidOCR does not set. Its
    memory arena is kept (RapidOCR turns it off, so every run allocates its tensors afresh), and idle
    threads sleep instead of spinning: on 2 cores the detector's threads spin while Tesseract reads beside
    them, and in a Flow while the other stages work. On the evaluation's 11 real comic pages the detector
    took 8 % less time (1.88 -> 1.73 s a page, the same regions on every page) for 150 MB more resident
    memory at its peak (1.03 -> 1.19 GB; the executor's limit in deploy/executors.yml is 2 GiB)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # (the arena grown by what a run asks, as RapidOCR sets it)
    provider = ("CPUExecutionProvider", {"arena_extend_strategy": "kSameAsRequested"})
    return onnxruntime.InferenceSession(str(model_path), options, providers=[provider])


def _normalise_in_float32(detector) -> None:
    """RapidOCR's detector normalises the page with float64 mean and std, so the whole page is computed in
    float64 and then cast to the float32 the model takes: 75 ms of a comic page's detection. With float32
    constants the same arithmetic stays in float32 (the boxes found on the real comic pages are the same)."""
    make = detector.get_preprocess

    def float32_preprocess(longest_side: int):
        preprocess = make(longest_side)
        preprocess.mean = preprocess.mean.astype(np.float32)
        preprocess.std = preprocess.std.astype(np.float32)
        preprocess.scale = np.float32(preprocess.scale)
        return preprocess

    detector.get_preprocess = float32_preprocess


class RapidOCREngine:
    def __init__(
        self,
        languages: list[str] | None = None,
        threads: int = -1,
        box_threshold: float = DET_BOX_THRESHOLD,
        det_max_side: int = DET_MAX_SIDE,
        fused: bool = True,
        quantized: bool = True,
    ):
        try:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime import RapidOCR

            if fused or quantized:
                import onnx  # noqa: F401  # (`graph` rewrites the models with it)
            if quantized:
                import onnxruntime.quantization  # noqa: F401  # (which needs ml_dtypes)
        except ImportError as error:
            raise ModelNotFoundError(
                f"RapidOCR is not installed ({error}): pip install onnx onnxruntime ml_dtypes pyclipper shapely six && "
                "pip install --no-deps rapidocr-onnxruntime (the `ocr` extra of transmodal)"
            ) from error
        # fused: the shipped models with their activations fused (`graph`), the same readings in 60 % of the time
        models = Path(rapidocr_onnxruntime.__file__).parent / "models"
        paths = {stage: models / f"ch_PP-OCRv4_{stage}_infer.onnx" for stage in ("det", "rec")}
        if fused:
            paths = {stage: fused_model(path) for stage, path in paths.items()}
        # threads: onnxruntime's intra-op threads; -1 lets it use every core.
        self.engine = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            det_box_thresh=box_threshold,
            print_verbose=False,
            **{f"{stage}_model_path": str(path) for stage, path in paths.items()},
        )
        # RapidOCR's sessions, made again with the options it does not set (`_session`)
        self.engine.text_det.infer.session = _session(paths["det"], threads)
        self.languages = set(languages or ["en", "zh"])
        self.det_max_side = det_max_side
        _normalise_in_float32(self.engine.text_det)
        # quantized: the recogniser's widest pointwise convolutions in 8 bits (`graph.quantized_model`)
        if quantized:
            paths["rec"] = quantized_model(paths["rec"], self._calibration_inputs)
        self.engine.text_rec.session.session = _session(paths["rec"], threads)
        # Each line read on its own: in a batch every line is padded to the widest line's shape, and PP-OCR's
        # recogniser reads a line a little differently for the padding, so a line's reading depended on the
        # lines read with it (and the 8-bit recogniser is calibrated on lines read alone).
        self.engine.text_rec.rec_batch_num = 1

    def _calibration_inputs(self) -> list[np.ndarray]:
        """The recogniser's inputs for the lines of `calibration_lines`, prepared as `read_lines` prepares a
        line: the 8-bit recogniser's activation ranges are measured on them."""
        recogniser = self.engine.text_rec
        height, width = recogniser.rec_image_shape[1:]
        inputs = []
        for line in calibration_lines():
            bgr = np.ascontiguousarray(line[..., ::-1])
            ratio = max(width / height, bgr.shape[1] / bgr.shape[0])
            inputs.append(recogniser.resize_norm_img(bgr, ratio)[np.newaxis].astype(np.float32))
        return inputs

    def check_language(self, language: str) -> None:
        if language not in self.languages:
            raise UnsupportedLanguageError(
                f"RapidOCR's recogniser reads Chinese and English characters only, not "
                f"{language_names.name(language)} ({language}) (accents and umlauts would be lost); use backend "
                f"'rapidocr+tesseract' or 'tesseract', or list {language!r} in backend_options.languages"
            )

    def find_lines(self, pixels: np.ndarray, language: str) -> list[Line]:
        """Line boxes, without text; the detector works for any language."""
        scale = min(1.0, self.det_max_side / max(pixels.shape[:2]))
        if scale < 1.0:
            pixels = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(pixels[..., ::-1])  # RapidOCR takes arrays as OpenCV's BGR
        quads, _ = self.engine(bgr, use_cls=False, use_rec=False)
        boxes, angles = [], []
        for quad in quads or []:
            q = np.asarray(quad, dtype=float)  # corners clockwise from the top left
            boxes.append(tuple(float(v) / scale for v in (q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max())))
            angles.append(float(np.degrees(np.arctan2(q[1, 1] - q[0, 1], q[1, 0] - q[0, 0]))))
        lines = []
        for merged in merge_line_fragments(boxes):
            # a line pieced together slants as its widest piece
            pieces = [i for i, box in enumerate(boxes) if union([box, merged]) == merged]
            widest = max(pieces, key=lambda i: boxes[i][2] - boxes[i][0], default=None)
            lines.append(Line(box=merged, angle=angles[widest] if widest is not None else 0.0))
        return lines

    def read_lines(self, pixels: np.ndarray, boxes: list[Box], language: str, crop: str = "box") -> list[Line]:
        """The text of each line box, its pixels cropped the way `crop` names (`CROPS`)."""
        images = []
        for box in boxes:
            image = np.ascontiguousarray(CROPS[crop](pixels, box)[..., ::-1])
            # Like RapidOCR's own pipeline: a tall crop is a vertical line, turned to lie horizontally.
            images.append(np.rot90(image) if image.shape[0] >= 1.5 * image.shape[1] else image)
        if not images:
            return []
        results, _ = self.engine.text_rec(images)
        return [
            Line(box=box, text=result[0].strip(), confidence=float(result[1])) for box, result in zip(boxes, results)
        ]
