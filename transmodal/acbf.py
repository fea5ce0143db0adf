"""Reading ACBF (Advanced Comic Book Format) files: pages, their images and their text areas.

ACBF is an XML description of a comic book (https://acbf.fandom.com): metadata, then one <page> per page
image, each with a <text-layer> per language whose <text-area> elements give a polygon (`points`, in page
image pixels) and the text lettered inside it. A page's image is a file beside the .acbf (inside a CBZ)
or, when `href` starts with "#", a base64 <binary> embedded in the file.

    book = acbf.parse(open("AndasGame.acbf", "rb").read())
    for page in book.pages:
        for area in page.text_areas("en"):
            area.polygon, area.text, area.type

Only the standard library's XML parser is used; namespaces (ACBF 1.0, 1.1, ...) are ignored.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import xml.etree.ElementTree as ElementTree

# How ACBF's text-area types map to the TextRegion.kind of transmodal.docs.
AREA_KINDS = {
    "speech": "balloon",
    "thought": "balloon",
    "audio": "balloon",
    "commentary": "caption",
    "formal": "caption",
    "letter": "caption",
    "code": "caption",
    "heading": "caption",
    "sign": "sign",
}

# Elements whose text is not shown inside a text area (none in ACBF 1.1, kept for safety).
_SKIPPED = {"binary"}


class AcbfError(ValueError):
    """The file is not ACBF, or not well-formed XML."""


@dataclasses.dataclass
class TextArea:
    polygon: list[tuple[float, float]]  # [(x, y), ...] in page image pixels
    text: str  # paragraphs joined by "\n"; inline markup (emphasis, strong, ...) dropped
    type: str = "speech"
    bgcolor: str | None = None
    inverted: bool = False  # light text on a dark area
    rotation: float = 0.0  # text-rotation, degrees
    transparent: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs = [x for x, _ in self.polygon]
        ys = [y for _, y in self.polygon]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def kind(self) -> str:
        """The TextRegion.kind of this area: balloon, caption or sign."""
        return AREA_KINDS.get(self.type, "balloon")


@dataclasses.dataclass
class Page:
    image: str  # href of the page image: a file name in the archive, or "#id" of an embedded binary
    layers: dict[str, list[TextArea]]  # language -> text areas, in document order
    title: str | None = None

    def text_areas(self, lang: str) -> list[TextArea]:
        return self.layers.get(lang, [])


@dataclasses.dataclass
class Book:
    title: str | None
    languages: list[str]  # languages of the text layers, in the order they first appear
    pages: list[Page]  # the body's pages (the cover page is `cover`)
    cover: Page | None = None
    license: str | None = None
    authors: list[str] = dataclasses.field(default_factory=list)
    binaries: dict[str, tuple[str, bytes]] = dataclasses.field(default_factory=dict)  # id -> (type, data)

    def image_data(self, href: str) -> bytes | None:
        """The bytes of an embedded image ("#id"), or None when the image is a separate file."""
        if href.startswith("#") and href[1:] in self.binaries:
            return self.binaries[href[1:]][1]
        return None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element, name: str):
    return [child for child in element if _local(child.tag) == name]


def _first(element, name: str):
    for child in element.iter():
        if _local(child.tag) == name:
            return child
    return None


def _inline_text(element) -> str:
    """All text inside an element, markup dropped, whitespace inside a paragraph collapsed."""
    parts = []

    def walk(node):
        if _local(node.tag) in _SKIPPED:
            return
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def parse_points(points: str) -> list[tuple[float, float]]:
    """ACBF `points` ("x1,y1 x2,y2 ...") -> [(x1, y1), ...]."""
    polygon = []
    for pair in points.split():
        x, _, y = pair.partition(",")
        try:
            polygon.append((float(x), float(y)))
        except ValueError as error:
            raise AcbfError(f"bad point {pair!r} in points={points!r}") from error
    return polygon


def _text_area(element) -> TextArea:
    paragraphs = [_inline_text(p) for p in _children(element, "p")]
    if not paragraphs:  # text directly in the area (not standard, but seen)
        paragraphs = [_inline_text(element)]
    try:
        rotation = float(element.get("text-rotation", 0) or 0)
    except ValueError:
        rotation = 0.0
    return TextArea(
        polygon=parse_points(element.get("points", "")),
        text="\n".join(paragraph for paragraph in paragraphs if paragraph),
        type=(element.get("type") or "speech").lower(),
        bgcolor=element.get("bgcolor"),
        inverted=(element.get("inverted") or "").lower() == "true",
        rotation=rotation,
        transparent=(element.get("transparent") or "").lower() == "true",
    )


def _page(element) -> Page:
    image = _first(element, "image")
    href = ""
    if image is not None:
        href = next((value for key, value in image.attrib.items() if _local(key) == "href"), "")
    layers: dict[str, list[TextArea]] = {}
    for layer in _children(element, "text-layer"):
        lang = layer.get("lang", "")
        layers.setdefault(lang, []).extend(_text_area(area) for area in _children(layer, "text-area"))
    title = _first(element, "title")
    return Page(image=href, layers=layers, title=_inline_text(title) if title is not None else None)


def parse(data: bytes | str) -> Book:
    """Parse an ACBF document (its bytes or text)."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise AcbfError(f"not well-formed XML: {error}") from error
    if _local(root.tag) != "ACBF":
        raise AcbfError(f"not an ACBF document: the root element is <{_local(root.tag)}>")

    book_info = _first(root, "book-info")
    title = None
    authors = []
    cover = None
    if book_info is not None:
        titles = _children(book_info, "book-title")
        english = [t for t in titles if t.get("lang") in (None, "en")]
        title = _inline_text((english or titles)[0]) if titles else None
        for author in _children(book_info, "author"):
            names = [
                _inline_text(part) for part in author if _local(part.tag) in ("first-name", "last-name", "nickname")
            ]
            if names:
                authors.append(" ".join(name for name in names if name))
        coverpage = _first(book_info, "coverpage")
        if coverpage is not None:
            cover = _page(coverpage)
    license_element = _first(root, "license")

    body = _first(root, "body")
    pages = [_page(page) for page in _children(body, "page")] if body is not None else []

    languages: list[str] = []
    for page in ([cover] if cover else []) + pages:
        for lang in page.layers:
            if lang not in languages:
                languages.append(lang)

    binaries: dict[str, tuple[str, bytes]] = {}
    for binary in root.iter():
        binary_id = binary.get("id")
        if _local(binary.tag) == "binary" and binary_id:
            try:
                binaries[binary_id] = (binary.get("content-type", ""), base64.b64decode(binary.text or ""))
            except ValueError:
                continue
    return Book(
        title=title,
        languages=languages,
        pages=pages,
        cover=cover,
        license=_inline_text(license_element) if license_element is not None else None,
        authors=authors,
        binaries=binaries,
    )
