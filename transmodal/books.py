"""Whole books in and out: comic archives (CBZ/ZIP), folders of page images and PDFs.

    result = translate_book("comic.cbz", "comic.es.cbz", translate, source_lang="en", target_lang="es")

A book is read as pages in reading order (the ACBF's page order when the archive has an .acbf file, else
the natural order of the member names: 2.jpg before 10.jpg) plus the members that are not pages
(ComicInfo.xml, the ACBF, ...), which are carried over unchanged. Each page is sent through `translate`
(the image-translation Flow, or a fake in tests) and written back in its own format: a JPEG stays a JPEG
at about the quality it had, a PNG stays a PNG.

Resumable: every translated page is kept in a state folder next to the output (`OUT.transmodal/`), keyed by
the page's name, a hash of its content and the languages. A run only sends the pages not in it; once the
book is written with every page translated, a run with the same input finds nothing to do.

With an ACBF holding text for the source language, its text areas are the page's regions (polygon and
text): the TextDetector keeps them instead of reading the page, and the translations are written back
into the ACBF as a `<text-layer lang="TARGET">` per page, on the same polygons.

Bad input is refused before anything is written (BookError): archives over the size limits (a ZIP bomb),
member names that would land outside the output (`../x.jpg`, `/etc/x`), PDFs over the page limit or
password-protected. Nested archives are skipped with a message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import stat
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Callable, Iterable, Iterator

from PIL import Image, JpegImagePlugin

from transmodal import acbf
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import TransmodalError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
ARCHIVE_EXTENSIONS = (".zip", ".cbz", ".rar", ".cbr", ".7z", ".cb7", ".tar", ".cbt", ".gz", ".tgz", ".bz2", ".xz")
BOOK_EXTENSIONS = (".cbz", ".zip", ".pdf")


class BookError(TransmodalError):
    """The book cannot be read or written safely: nothing was written."""


@dataclasses.dataclass
class Limits:
    """What a book may hold. The defaults fit real comics (a 200-page CBZ of 4 MB pages is 800 MB)."""

    max_pages: int = int(os.environ.get("TRANSMODAL_MAX_PAGES", 1000))
    max_bytes: int = int(os.environ.get("TRANSMODAL_MAX_BOOK_BYTES", 4 << 30))  # uncompressed, all members
    # Uncompressed / compressed size of one member. JPEG and PNG pages barely compress (ratio ~1), XML about
    # 10; a ZIP bomb member is 1000 and more. Members under 1 MiB are not checked: they cannot hurt.
    max_ratio: float = 100.0
    dpi: int = 150  # PDF pages are rendered at this resolution


# Members smaller than this are never a compression bomb, whatever their ratio.
RATIO_CHECK_FROM = 1 << 20


def natural_key(name: str) -> list:
    """Sort key where digit runs compare as numbers: page2.jpg before page10.jpg."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def safe_member_name(name: str) -> str:
    """`name` with "/" separators, or BookError when written out it would land outside the output folder."""
    normalized = name.replace("\\", "/")
    parts = normalized.split("/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized) or ".." in parts or "\x00" in name:
        raise BookError(f"unsafe member name {name!r}: it points outside the book (absolute path or '..'); refused")
    return "/".join(part for part in parts if part not in ("", "."))


# Reading ---------------------------------------------------------------------------------------------------


class BookReader:
    """One book's pages (in reading order) and other members; page bytes are read on demand."""

    def __init__(self, pages: list[str], extras: list[str], notes: list[str]):
        self.pages = pages  # page names, in reading order
        self.extras = extras  # non-image members carried over as they are
        self.notes = notes  # members skipped, and why
        self.acbf_name: str | None = next((name for name in extras if name.lower().endswith(".acbf")), None)
        self.acbf: acbf.Book | None = None

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def content_key(self, name: str) -> str:
        """A hash of the page's content, cheap to get (a ZIP member's CRC; a file's or PDF's SHA-1)."""
        return hashlib.sha1(self.read(name)).hexdigest()

    def close(self) -> None:
        pass

    def __enter__(self) -> BookReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _order_by_acbf(self) -> None:
        """Pages in the ACBF's order (cover first), pages it does not list after them in natural order."""
        if self.acbf_name is None:
            return
        try:
            self.acbf = acbf.parse(self.read(self.acbf_name))
        except acbf.AcbfError as error:
            self.notes.append(f"{self.acbf_name}: not used ({error}); pages in name order")
            return
        folder = os.path.dirname(self.acbf_name)
        listed = []
        for page in ([self.acbf.cover] if self.acbf.cover else []) + self.acbf.pages:
            name = acbf_page_member(folder, page.image)
            if name in self.pages and name not in listed:
                listed.append(name)
        self.pages = listed + [name for name in self.pages if name not in listed]


def acbf_page_member(acbf_folder: str, href: str) -> str:
    """The archive member an ACBF page's image href names (hrefs are relative to the .acbf file)."""
    return "/".join(part for part in (acbf_folder, href.replace("\\", "/")) if part)


class ZipBook(BookReader):
    def __init__(self, path: str, limits: Limits):
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise BookError(f"cannot read {path} as a ZIP/CBZ archive: {error}") from error
        self.members: dict[str, zipfile.ZipInfo] = {}
        notes: list[str] = []
        total = compressed = 0
        for info in self.archive.infolist():
            if info.is_dir():
                continue
            name = safe_member_name(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"{name}: skipped (a symbolic link)")
                continue
            if name.lower().endswith(ARCHIVE_EXTENSIONS):
                notes.append(f"{name}: skipped (an archive inside the book; nested archives are not opened)")
                continue
            total += info.file_size
            if total > limits.max_bytes:
                raise BookError(
                    f"{path}: members uncompress to over {limits.max_bytes:,} bytes (a ZIP bomb?); refused "
                    f"(limit: TRANSMODAL_MAX_BOOK_BYTES)"
                )
            if info.file_size >= RATIO_CHECK_FROM and info.file_size > limits.max_ratio * max(1, info.compress_size):
                raise BookError(
                    f"{path}: member {name} compresses {info.file_size / max(1, info.compress_size):,.0f} to 1 "
                    f"(a ZIP bomb?); refused (limit: {limits.max_ratio:g} to 1)"
                )
            compressed += info.compress_size
            self.members[name] = info
        # Many small members of zeros pass the check above one by one: the archive as a whole must not
        # expand more than one member may either (beyond the first RATIO_CHECK_FROM bytes).
        if total > RATIO_CHECK_FROM and total > limits.max_ratio * max(compressed, RATIO_CHECK_FROM):
            raise BookError(
                f"{path}: members uncompress to {total:,} bytes from {compressed:,} (a ZIP bomb?); refused "
                f"(limit: {limits.max_ratio:g} to 1)"
            )
        names = sorted(self.members, key=natural_key)
        super().__init__([n for n in names if is_image_name(n)], [n for n in names if not is_image_name(n)], notes)
        if len(self.pages) > limits.max_pages:
            raise BookError(f"{path}: {len(self.pages)} pages, over the limit of {limits.max_pages} (--max-pages)")
        self._order_by_acbf()

    def read(self, name: str) -> bytes:
        # ZipExtFile stops at the size the header declares, so a lying header cannot inflate past the checks.
        return self.archive.read(self.members[name])

    def content_key(self, name: str) -> str:
        info = self.members[name]
        return f"{info.CRC:08x}-{info.file_size}"

    def close(self) -> None:
        self.archive.close()


class FolderBook(BookReader):
    def __init__(self, path: str, limits: Limits):
        self.folder = path
        notes: list[str] = []
        names = []
        total = 0
        for root, folders, files in os.walk(path):
            folders.sort()
            for file in files:
                full = os.path.join(root, file)
                name = os.path.relpath(full, path).replace(os.sep, "/")
                if os.path.islink(full):
                    notes.append(f"{name}: skipped (a symbolic link)")
                    continue
                if name.lower().endswith(ARCHIVE_EXTENSIONS):
                    notes.append(f"{name}: skipped (an archive inside the book; nested archives are not opened)")
                    continue
                total += os.path.getsize(full)
                if total > limits.max_bytes:
                    raise BookError(f"{path}: over {limits.max_bytes:,} bytes of files; refused")
                names.append(name)
        names.sort(key=natural_key)
        super().__init__([n for n in names if is_image_name(n)], [n for n in names if not is_image_name(n)], notes)
        if len(self.pages) > limits.max_pages:
            raise BookError(f"{path}: {len(self.pages)} pages, over the limit of {limits.max_pages} (--max-pages)")
        self._order_by_acbf()

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.folder, name), "rb") as file:
            return file.read()


class PdfBook(BookReader):
    """A PDF's pages rendered at `limits.dpi` as JPEG images page-0001.jpg, ... (PDFium, via pypdfium2)."""

    def __init__(self, path: str, limits: Limits):
        import pypdfium2

        try:
            self.pdf = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as error:
            if "password" in str(error).lower():
                raise BookError(
                    f"{path} is password-protected: remove the password first (e.g. qpdf --decrypt)"
                ) from error
            raise BookError(f"cannot read {path} as a PDF: {error}") from error
        count = len(self.pdf)
        if count > limits.max_pages:
            self.pdf.close()
            raise BookError(f"{path}: {count} pages, over the limit of {limits.max_pages} (--max-pages)")
        with open(path, "rb") as file:
            self.file_hash = hashlib.sha1(file.read()).hexdigest()
        self.dpi = limits.dpi
        super().__init__([f"page-{number:04d}.jpg" for number in range(1, count + 1)], [], [])

    def read(self, name: str) -> bytes:
        from transmodal.media import DEFAULT_MAX_PIXELS

        page = self.pdf[self.pages.index(name)]
        width, height = page.get_size()  # points, 1/72 inch
        scale = self.dpi / 72
        # A poster-sized page at the chosen DPI could exceed what the Flow accepts: render it smaller.
        scale = min(scale, (DEFAULT_MAX_PIXELS / max(1.0, width * height)) ** 0.5)
        image = page.render(scale=scale).to_pil().convert("RGB")
        buffer = io.BytesIO()
        dpi = round(72 * scale)
        image.save(buffer, format="JPEG", quality=92, dpi=(dpi, dpi))  # the DPI keeps the page size in the PDF out
        return buffer.getvalue()

    def content_key(self, name: str) -> str:
        return f"{self.file_hash}-{name}-{self.dpi}dpi"

    def close(self) -> None:
        self.pdf.close()


def open_book(path: str, limits: Limits | None = None) -> BookReader:
    """The reader for a .cbz/.zip archive, a .pdf or a folder of images. Raises BookError."""
    limits = limits or Limits()
    if os.path.isdir(path):
        return FolderBook(path, limits)
    if not os.path.isfile(path):
        raise BookError(f"no such file or folder: {path}")
    if path.lower().endswith(".pdf"):
        return PdfBook(path, limits)
    if path.lower().endswith((".cbz", ".zip")) or zipfile.is_zipfile(path):
        return ZipBook(path, limits)
    raise BookError(f"{path}: not a book this reads (.cbz, .zip, .pdf or a folder of images)")


# Page images -----------------------------------------------------------------------------------------------

# The IJG standard luminance quantization table (quality 50), row by row as Pillow reports tables.
_IJG_LUMINANCE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip


def jpeg_quality(image: Image.Image) -> int:
    """The IJG quality (1-95) a JPEG was most likely saved at, from its luminance quantization table."""
    tables = getattr(image, "quantization", None) or {}
    table = tables.get(0)
    if not table or len(table) != 64:
        return 90
    scale = sum(q * 100 / s for q, s in zip(table, _IJG_LUMINANCE)) / 64  # percent of the quality-50 table
    quality = (200 - scale) / 2 if scale <= 100 else 5000 / scale
    return max(1, min(95, round(quality)))


def encode_like(original: bytes, translated: bytes) -> bytes:
    """The translated page (any format) encoded as the original page was: same format, and for JPEG about
    the same quality and the same chroma subsampling; DPI and colour profile carried over."""
    source = Image.open(io.BytesIO(original))
    page: Image.Image = Image.open(io.BytesIO(translated))
    page.load()
    image_format = source.format or "PNG"
    options: dict = {}
    for key in ("dpi", "icc_profile"):
        if source.info.get(key):
            options[key] = source.info[key]
    if image_format == "JPEG":
        options["quality"] = jpeg_quality(source)
        subsampling = JpegImagePlugin.get_sampling(source)
        if subsampling >= 0:
            options["subsampling"] = subsampling
        page = page.convert("L" if source.mode == "L" else "RGB")
    elif source.mode in ("L", "1"):
        page = page.convert("L")  # a black-and-white page stays grey: a third the size of RGB
    elif source.mode in ("RGBA", "LA", "P") and image_format == "PNG":
        page = page.convert("RGB")
    buffer = io.BytesIO()
    page.save(buffer, format=image_format, **options)
    return buffer.getvalue()


# ACBF: text areas in, text layers out ---------------------------------------------------------------------


def acbf_regions(book: BookReader, page_name: str, lang: str) -> list[TextRegion]:
    """The page's text areas in `lang` from the book's ACBF as regions (polygon, text, kind), or []."""
    if book.acbf is None or book.acbf_name is None:
        return []
    folder = os.path.dirname(book.acbf_name)
    for page in ([book.acbf.cover] if book.acbf.cover else []) + book.acbf.pages:
        if acbf_page_member(folder, page.image) != page_name:
            continue
        regions = []
        for area in page.text_areas(lang):
            if len(area.polygon) < 3 or not area.text.strip():
                continue
            polygon = [[float(x), float(y)] for x, y in area.polygon]
            # A non-transparent area's polygon is its balloon or caption: the shape to erase in and draw in.
            regions.append(
                TextRegion(
                    polygon=polygon,
                    text=area.text,
                    kind=area.kind,
                    container=[] if area.transparent else polygon,
                    confidence=1.0,
                )
            )
        return regions
    return []


def add_text_layers(acbf_data: bytes, layers: dict[str, list[dict]], lang: str) -> bytes:
    """The ACBF with a `<text-layer lang=LANG>` on each page of `layers` (image href -> text areas:
    {"points": [[x, y], ...], "text": ..., "type": ...}); a layer already in that language is replaced."""
    root = ElementTree.fromstring(acbf_data)
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    ElementTree.register_namespace("", namespace)  # written back without "ns0:" prefixes
    prefix = f"{{{namespace}}}" if namespace else ""
    for element in root.iter():
        if element.tag not in (f"{prefix}page", f"{prefix}coverpage"):
            continue
        image = element.find(f"{prefix}image")
        href = None if image is None else next((v for k, v in image.attrib.items() if k.endswith("href")), None)
        if href not in layers:
            continue
        for old in [layer for layer in element.findall(f"{prefix}text-layer") if layer.get("lang") == lang]:
            element.remove(old)
        layer = ElementTree.SubElement(element, f"{prefix}text-layer", {"lang": lang})
        for area in layers[href]:
            points = " ".join(f"{x:g},{y:g}" for x, y in area["points"])
            attributes = {"points": points, **({"type": area["type"]} if area.get("type") else {})}
            text_area = ElementTree.SubElement(layer, f"{prefix}text-area", attributes)
            for paragraph in area["text"].split("\n"):
                ElementTree.SubElement(text_area, f"{prefix}p").text = paragraph
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


# ACBF area types by TextRegion.kind, for regions the OCR found (ACBF's own areas keep their type).
KIND_AREA_TYPES = {"balloon": "speech", "caption": "commentary", "sign": "sign", "sfx": "audio"}


def translated_areas(doc: MediaDoc) -> list[dict]:
    """The document's translated regions as ACBF text areas: the region's container when it has one (the
    balloon), else its polygon."""
    areas = []
    for region in doc.regions:
        if not region.translation:
            continue
        points = region.container if len(region.container) >= 3 else region.polygon
        areas.append(
            {
                "points": [[round(x, 1), round(y, 1)] for x, y in points],
                "text": region.translation,
                "type": KIND_AREA_TYPES.get(region.kind, "speech"),
            }
        )
    return areas


# Resumability ----------------------------------------------------------------------------------------------


def state_folder(out_path: str) -> str:
    """Where the pages translated so far are kept: beside the output, so a second run finds them."""
    return os.path.abspath(out_path).rstrip(os.sep) + ".transmodal"


class PageState:
    """Translated pages on disk: KEY.page (the encoded page) and KEY.json (its ACBF text areas)."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, key: str, suffix: str) -> str:
        return os.path.join(self.folder, key + suffix)

    def has(self, key: str) -> bool:
        return os.path.isfile(self._path(key, ".json"))

    def save(self, key: str, page: bytes, areas: list[dict]) -> None:
        os.makedirs(self.folder, exist_ok=True)
        _write_atomically(self._path(key, ".page"), page)
        # The .json last: it marks the page done, so a page cut off while being saved is sent again.
        _write_atomically(self._path(key, ".json"), json.dumps({"areas": areas}, ensure_ascii=False).encode())

    def page(self, key: str) -> bytes:
        with open(self._path(key, ".page"), "rb") as file:
            return file.read()

    def areas(self, key: str) -> list[dict]:
        with open(self._path(key, ".json"), encoding="utf-8") as file:
            return json.load(file)["areas"]

    def finished(self, keys: list[str]) -> bool:
        """The book was written from exactly these pages."""
        try:
            with open(os.path.join(self.folder, "written.json"), encoding="utf-8") as file:
                return json.load(file) == keys
        except (OSError, ValueError):
            return False

    def mark_finished(self, keys: list[str]) -> None:
        _write_atomically(os.path.join(self.folder, "written.json"), json.dumps(keys).encode())


def page_key(name: str, content_key: str, source_lang: str | None, target_lang: str | None) -> str:
    text = "\n".join([name, content_key, source_lang or "", target_lang or ""])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def _write_atomically(path: str, data: bytes) -> None:
    partial = path + ".part"
    with open(partial, "wb") as file:
        file.write(data)
    os.replace(partial, path)


# Writing ---------------------------------------------------------------------------------------------------


def output_kind(out_path: str) -> str:
    """'cbz' (also .zip), 'pdf' or 'folder' (any other name, or an existing folder)."""
    lower = out_path.lower()
    if lower.endswith((".cbz", ".zip")):
        return "cbz"
    if lower.endswith(".pdf"):
        return "pdf"
    return "folder"


def write_book(out_path: str, members: Iterable[tuple[str, bytes]]) -> None:
    """Write (name, bytes) members, pages in reading order, as a CBZ/ZIP, a PDF (pages only) or a folder.
    Archives are written to a temporary name and renamed: an interrupted write leaves no half book."""
    kind = output_kind(out_path)
    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    if kind == "folder":
        root = os.path.abspath(out_path)
        for name, data in members:
            path = os.path.abspath(os.path.join(root, safe_member_name(name)))
            if os.path.commonpath([root, path]) != root:  # safe_member_name already refuses these
                raise BookError(f"unsafe member name {name!r}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write_atomically(path, data)
        return
    partial = out_path + ".part"
    try:
        if kind == "cbz":
            with zipfile.ZipFile(partial, "w") as archive:
                for name, data in members:
                    # Images are compressed already: stored. Text members (XML) deflate well.
                    compression = zipfile.ZIP_STORED if is_image_name(name) else zipfile.ZIP_DEFLATED
                    archive.writestr(safe_member_name(name), data, compress_type=compression)
        else:
            import img2pdf

            pages = [_pdf_ready(data) for name, data in members if is_image_name(name)]
            with open(partial, "wb") as file:
                file.write(img2pdf.convert(pages))
        os.replace(partial, out_path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _pdf_ready(data: bytes) -> bytes:
    """The page as img2pdf embeds it without re-encoding (JPEG, PNG without alpha); other images as PNG."""
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG" or (image.format == "PNG" and image.mode in ("RGB", "L", "1", "P")):
        return data
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


# Translating a book ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class BookResult:
    pages: int = 0
    sent: list[str] = dataclasses.field(default_factory=list)  # pages sent this run
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # page -> error (original page kept)
    not_sent: list[str] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    written: bool = False
    up_to_date: bool = False  # nothing to do: the book was already written from these pages
    notes: list[str] = dataclasses.field(default_factory=list)


# translate(docs, on_result) sends the documents, calls on_result for each one that comes back and
# returns the client's Report (transmodal.client.Report: failures by name, not_sent, interrupted).
Translate = Callable[[Iterator[MediaDoc], Callable[[MediaDoc], None]], object]


def translate_book(
    book_path: str,
    out_path: str,
    translate: Translate,
    source_lang: str | None = None,
    target_lang: str | None = None,
    limits: Limits | None = None,
    use_acbf_text: bool = True,
    on_page: Callable[[str, str], None] | None = None,
) -> BookResult:
    """Translate every page not translated yet and write the book. `on_page(name, status)` is told of each
    page as it finishes ("translated", "translated (ACBF text)" or "failed: ..."). Raises BookError.

    Pages that fail keep their original image in the book; they are sent again by the next run. An
    interrupted run writes no book: the pages done so far are kept for the next run."""
    if os.path.abspath(out_path) == os.path.abspath(book_path):
        raise BookError(f"--out {out_path} is the input: choose another name")
    result = BookResult()
    state = PageState(state_folder(out_path))
    with open_book(book_path, limits) as book:
        result.pages = len(book.pages)
        result.notes = list(book.notes)
        if output_kind(out_path) == "pdf" and book.extras:
            result.notes.append(f"not in the PDF (pages only): {', '.join(book.extras)}")
        keys = {name: page_key(name, book.content_key(name), source_lang, target_lang) for name in book.pages}
        todo = [name for name in book.pages if not state.has(keys[name])]
        if not todo and state.finished(list(keys.values())) and os.path.exists(out_path):
            result.up_to_date = True
            return result

        given_text = {
            name: acbf_regions(book, name, source_lang) if use_acbf_text and source_lang else [] for name in todo
        }
        originals: dict[str, bytes] = {}

        def documents() -> Iterator[MediaDoc]:
            for name in todo:
                originals[name] = book.read(name)
                result.sent.append(name)
                doc = MediaDoc(image=originals[name], name=name, source_lang=source_lang, target_lang=target_lang)  # type: ignore[arg-type]
                if given_text[name]:
                    doc.regions = given_text[name]  # type: ignore[assignment]
                    doc.text = "\n".join(region.text for region in given_text[name])
                yield doc

        def save(doc: MediaDoc) -> None:
            name = doc.name or ""
            original = originals.pop(name, None)
            if doc.failed:
                result.failed[name] = f"[{doc.error_stage}] {doc.error}" if doc.error_stage else str(doc.error)
                if on_page is not None:
                    on_page(name, f"failed: {result.failed[name]}")
                return
            if original is None or doc.image is None:
                return
            state.save(keys[name], encode_like(original, bytes(doc.image)), translated_areas(doc))
            if on_page is not None:
                on_page(name, "translated (ACBF text)" if given_text.get(name) else "translated")

        report = translate(documents(), save) if todo else None
        if report is not None:
            for failure in getattr(report, "failures", []):
                if failure.name in result.failed:
                    continue  # told already, as it came back
                result.failed[failure.name] = f"[{failure.stage}] {failure.error}" if failure.stage else failure.error
                if on_page is not None:
                    on_page(failure.name, f"failed: {result.failed[failure.name]}")
            result.not_sent = list(getattr(report, "not_sent", [])) + todo[len(result.sent) :]
            result.interrupted = bool(getattr(report, "interrupted", False))
        if result.interrupted or result.not_sent:
            return result

        def members() -> Iterator[tuple[str, bytes]]:
            layers: dict[str, list[dict]] = {}
            for name in book.pages:
                if state.has(keys[name]):
                    layers[name] = state.areas(keys[name])
                    yield name, state.page(keys[name])
                else:
                    yield name, book.read(name)  # failed: the original page
            for name in book.extras:
                data = book.read(name)
                if name == book.acbf_name and target_lang and any(layers.values()):
                    folder = os.path.dirname(name)
                    hrefs = {
                        os.path.relpath(page, folder or ".").replace(os.sep, "/"): areas
                        for page, areas in layers.items()
                    }
                    data = add_text_layers(data, hrefs, target_lang)
                yield name, data

        write_book(out_path, members())
        result.written = True
        if not result.failed:
            state.mark_finished(list(keys.values()))
    return result
