"""The document types every transmodal executor reads and writes.

One document type, `MediaDoc`, travels through every Flow. Each executor reads the fields it needs and
fills the fields it adds, so executors can be swapped and chained in YAML without schema mismatches:

    TextDetector      image                      -> regions, text
    TextTranslator    text, regions, languages   -> translation, region translations (+ flag "untouched")
    TextEraser        image, regions             -> image (text removed), region styles
    TextRenderer      image, regions             -> image (translations drawn)
    SpeechRecognizer  audio                      -> text, source_lang, segments
    SpeechSynthesizer translation or text        -> audio
    ImageGenerator    translation or text        -> image, images
    ImageCaptioner    image                      -> text
    PixelTranslator   image, regions             -> image (translations drawn from pixels), region drawn boxes

A document that failed at any stage carries `error` (and `error_stage`); later executors pass it through
untouched, so no document is ever dropped from a request.

Defaults are literals, not default factories: Jina's gateway rebuilds these types from their JSON schema,
which keeps literal defaults but loses factories (fields would become required). Pydantic copies mutable
defaults per instance.
"""

from typing import Optional

from docarray import BaseDoc, DocList
from docarray.typing import AudioBytes, ImageBytes, NdArray


class TextStyle(BaseDoc):
    """How a piece of text looks, measured from the source image so a translation can match it."""

    color: Optional[list[int]] = None  # RGB of the text pixels
    background_color: Optional[list[int]] = None  # RGB of the pixels around the text
    font_size: Optional[float] = None  # pixel height of one line of text (ascender to descender)
    direction: str = "horizontal"  # or "vertical" (top-to-bottom columns, as in manga)
    alignment: str = "left"  # left, center or right
    angle: float = 0.0  # degrees the lines slant as found (a sound effect is often lettered slanted)


class TextRegion(BaseDoc):
    """A block of text in an image: where it is, what it says, what it should say, how it looks."""

    polygon: list[list[float]] = []  # [[x, y], ...] clockwise from top-left
    lines: list[list[float]] = []  # [x0, y0, x1, y1] box of each text line
    text: str = ""
    translation: Optional[str] = None
    confidence: float = 0.0  # 0..1
    style: TextStyle = TextStyle()
    # What holds the text: "balloon", "caption", "sign", "sfx" (sound effect) or "text" (anything else).
    kind: str = "text"
    # The shape enclosing the text (a balloon's or caption box's or sign panel's outline), [[x, y], ...];
    # empty when the text stands on the picture itself. Erasure fills inside it, rendering stays inside it.
    container: list[list[float]] = []
    # The lettering fills its container to the edge (a sign's text reaching its panel's border; the outline
    # is then the panel's convex hull): erasure takes every letter inside the outline, up to it.
    fills_container: bool = False
    drawn_box: list[float] = []  # [x0, y0, x1, y1] where the renderer drew the translation; empty if not drawn
    # Quality flags set by the stages and the self-check: "source_left", "illegible", "overflow", "untouched",
    # "too_small" (print too small to redraw legibly, left as it is).
    flags: list[str] = []

    def add_flag(self, flag: str) -> None:
        """Set a quality flag (once)."""
        if flag not in self.flags:
            self.flags.append(flag)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Axis-aligned integer bounding box (x0, y0, x1, y1) of the polygon."""
        xs = [point[0] for point in self.polygon]
        ys = [point[1] for point in self.polygon]
        return int(min(xs)), int(min(ys)), int(round(max(xs))), int(round(max(ys)))


class Segment(BaseDoc):
    """A timed piece of a transcript."""

    start: float  # seconds
    end: float
    text: str


class GeneratedImage(BaseDoc):
    """One image produced for a prompt."""

    image: ImageBytes
    seed: Optional[int] = None


class MediaDoc(BaseDoc):
    """The one document type of every transmodal Flow."""

    # Inputs and outputs, by modality. Images and audio travel encoded (PNG/JPEG, WAV/FLAC/OGG) and are
    # decoded on demand by transmodal.media, which enforces size limits before a full decode.
    image: Optional[ImageBytes] = None
    audio: Optional[AudioBytes] = None
    text: Optional[str] = None
    translation: Optional[str] = None  # `text` in target_lang

    # ISO 639-1 codes ("en", "es"); the client sets them, recognisers may fill source_lang.
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    # The recogniser's confidence in source_lang, when it detected the language itself (None: given).
    language_probability: Optional[float] = None

    regions: DocList[TextRegion] = DocList[TextRegion]()
    segments: DocList[Segment] = DocList[Segment]()
    images: DocList[GeneratedImage] = DocList[GeneratedImage]()
    # Raw samples, for callers that hold audio as arrays rather than files (with sample_rate).
    samples: Optional[NdArray] = None
    sample_rate: Optional[int] = None

    name: Optional[str] = None  # the input's file name, used to name the output
    trace: list[str] = []  # the executor replicas that processed the document, in order ("TextDetector/rep-0")
    error: Optional[str] = None
    error_stage: Optional[str] = None  # the executor that set `error`
    # What a person should check in a result that did not fail ("SpeechRecognizer: the speech sounds like
    # English, not the Spanish given ..."); regions carry their own flags.
    flags: list[str] = []

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def final_text(self) -> Optional[str]:
        """The text to speak or draw from: the translation when there is one."""
        return self.translation if self.translation is not None else self.text
