"""The document types every transmodal executor reads and writes.

One document type, `MediaDoc`, travels through every Flow. Each executor reads the fields it needs and
fills the fields it adds, so executors can be swapped and chained in YAML without schema mismatches:

    TextDetector      image                      -> regions, text
    TextTranslator    text, regions, languages   -> translation, region translations (+ flag "untouched")
    TextEraser        image, regions             -> image (text removed), region styles
    TextRenderer      image, regions             -> image (translations drawn)
    SpeechRecognizer  audio                      -> text, source_lang, segments
    SpeechSynthesizer translation, text or phones -> audio
    ImageGenerator    translation or text        -> image, images
    ImageCaptioner    image                      -> text (or phones)
    PixelTranslator   image, regions             -> image (translations drawn from pixels), region drawn boxes

A document that failed at any stage carries `error` (and `error_stage`); later executors pass it through
untouched, so no document is ever dropped from a request.

Defaults are literals, not default factories: Jina's gateway rebuilds these types from their JSON schema,
which keeps literal defaults but loses factories (fields would become required). Pydantic copies mutable
defaults per instance.
"""

from typing import Any, Optional

from docarray import BaseDoc, DocList
from docarray.base_doc.mixins.io import _type_to_protobuf
from docarray.proto import DocProto, ListOfAnyProto, NodeProto
from docarray.typing import AudioBytes, ImageBytes, NdArray


class _NotPlain(Exception):
    """A protobuf node that is not a plain value: left to docarray's general conversion."""


def _plain_node(value: Any) -> NodeProto:
    """`value` as docarray's `_type_to_protobuf` writes it, for plain values (None, str, bool, int, float and
    lists of them) without its general checks; anything else is handed to it."""
    kind = type(value)
    if kind is float:
        return NodeProto(float=value)
    if kind is str:
        return NodeProto(text=value)
    if value is None:
        return NodeProto()
    if kind is bool:
        return NodeProto(boolean=value)
    if kind is int:
        return NodeProto(integer=value)
    if kind is list:
        return NodeProto(list=ListOfAnyProto(data=[_plain_node(item) for item in value]))
    return _type_to_protobuf(value)


_PLAIN_CONTENT = ("float", "text", "integer", "boolean", "blob")


def _plain_value(node: NodeProto) -> Any:
    """The value of a node `_plain_node` writes plainly, as docarray reads it; `_NotPlain` for any other."""
    if node.WhichOneof("docarray_type") is not None:
        raise _NotPlain
    content = node.WhichOneof("content")
    if content in _PLAIN_CONTENT:
        return getattr(node, content)
    if content == "list":
        return [_plain_value(item) for item in node.list.data]
    if content is None:
        return None
    raise _NotPlain


class Doc(BaseDoc):
    """A BaseDoc whose plain fields (numbers, text, flags and the lists of points of a region's geometry)
    go to and from protobuf without docarray's general per-value checks: the same bytes (tests/test_docs.py),
    in about half the time. Every executor converts a comic page's regions twice per hop, which cost 30 ms
    per executor in docarray's way. Nested documents, tensors and bytes still take docarray's way."""

    def to_protobuf(self) -> DocProto:
        return DocProto(data={name: _plain_node(value) for name, value in self})

    @classmethod
    def from_protobuf(cls, pb_msg: DocProto):
        fields = {}
        known = cls._docarray_fields()
        for name, node in pb_msg.data.items():
            if name not in known:
                continue  # (as docarray does: these types do not load extra fields)
            try:
                fields[name] = _plain_value(node)
            except _NotPlain:
                fields[name] = cls._get_content_from_node_proto(node, name)
        return cls(**fields)


class TextStyle(Doc):
    """How a piece of text looks, measured from the source image so a translation can match it."""

    color: Optional[list[int]] = None  # RGB of the text pixels
    background_color: Optional[list[int]] = None  # RGB of the pixels around the text
    font_size: Optional[float] = None  # pixel height of one line of text (ascender to descender)
    direction: str = "horizontal"  # or "vertical" (top-to-bottom columns, as in manga)
    alignment: str = "left"  # left, center or right
    angle: float = 0.0  # degrees the lines slant as found (a sound effect is often lettered slanted)


class TextRegion(Doc):
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


class Segment(Doc):
    """A timed piece of a transcript."""

    start: float  # seconds
    end: float
    text: str


class GeneratedImage(Doc):
    """One image produced for a prompt."""

    image: ImageBytes
    seed: Optional[int] = None
    # how sure the generator is that it drew what was asked (0-1), from backends that can tell (`scenes`)
    confidence: Optional[float] = None


class MediaDoc(Doc):
    """The one document type of every transmodal Flow."""

    # Inputs and outputs, by modality. Images and audio travel encoded (PNG/JPEG, WAV/FLAC/OGG) and are
    # decoded on demand by transmodal.media, which enforces size limits before a full decode.
    image: Optional[ImageBytes] = None
    audio: Optional[AudioBytes] = None
    text: Optional[str] = None
    translation: Optional[str] = None  # `text` in target_lang
    # What is said as phones (transmodal.phones: eSpeak NG's notation, space-separated) where there is no
    # writing to say it in: an image-to-speech captioner trained on phone units fills it instead of `text`.
    phones: Optional[str] = None

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
