"""Whole books in and out (transmodal.books, `transmodal translate-book`): archives, folders and PDFs read
and written page by page, resumable runs, ACBF text in and out, and bad input refused.

The book logic is tested with a fake `translate` (it paints a mark on each page and "translates" given
text by upper-casing it); one integration test runs the real flow.yml on a 2-page CBZ through the CLI.
"""

import io
import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest
from docarray import DocList
from PIL import Image

from transmodal import acbf, books
from transmodal.client import Failure, Report
from transmodal.docs import MediaDoc, TextRegion
from transmodal.synthetic import make_sign

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMIC_INFO = b'<?xml version="1.0"?><ComicInfo><Title>Test</Title></ComicInfo>'


def page_image(text: str, seed: int, size=(320, 240)) -> np.ndarray:
    return make_sign([text], size=size, background="flat", seed=seed).image


def encoded(pixels: np.ndarray, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def make_cbz(path, members: list[tuple[str, bytes]]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return str(path)


def mark(image: bytes) -> bytes:
    """What the fake translation does to a page: a black square in the top-left corner, as PNG (the Flow
    returns PNG whatever came in)."""
    pixels = np.array(Image.open(io.BytesIO(image)).convert("RGB"))
    pixels[:20, :20] = 0
    return encoded(pixels, "PNG")


class FakeTranslate:
    """Stands in for the Flow: records the pages sent; fails the pages in `fail`; after `stop_after` pages
    it stops as an interrupted run does."""

    def __init__(self, fail: dict[str, str] | None = None, stop_after: int | None = None):
        self.fail = fail or {}
        self.stop_after = stop_after
        self.sent: list[str] = []
        self.received: list[MediaDoc] = []

    def __call__(self, docs, on_result) -> Report:
        report = Report()
        for doc in docs:
            report.sent += 1
            self.sent.append(doc.name)
            self.received.append(doc)
            if doc.name in self.fail:
                doc.error, doc.error_stage = self.fail[doc.name], "TextRenderer"
                on_result(doc)
                report.failures.append(Failure(doc.name, doc.error_stage, doc.error))
                continue
            doc.image = mark(bytes(doc.image))
            for region in doc.regions:
                region.translation = region.text.upper() + "!"
            on_result(doc)
            report.succeeded += 1
            if self.stop_after is not None and len(self.sent) >= self.stop_after:
                report.interrupted = True
                break
        return report


@pytest.fixture
def three_page_cbz(tmp_path):
    pages = {
        "page10.jpg": encoded(page_image("TEN", 1), "JPEG", quality=80),
        "page2.png": encoded(page_image("TWO", 2), "PNG"),
        "page1.jpg": encoded(page_image("ONE", 3), "JPEG", quality=80),
    }
    path = make_cbz(tmp_path / "book.cbz", [*pages.items(), ("ComicInfo.xml", COMIC_INFO)])
    return path, pages


def read_cbz(path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


# Reading and writing ---------------------------------------------------------------------------------------


def test_cbz_round_trip_keeps_order_formats_quality_and_other_members(three_page_cbz, tmp_path):
    path, pages = three_page_cbz
    out = tmp_path / "book.es.cbz"
    fake = FakeTranslate()
    result = books.translate_book(path, str(out), fake, "en", "es")
    assert result.written and not result.failed
    assert fake.sent == ["page1.jpg", "page2.png", "page10.jpg"]  # natural order, not 1, 10, 2
    members = read_cbz(out)
    assert [name for name, _ in members] == ["page1.jpg", "page2.png", "page10.jpg", "ComicInfo.xml"]
    assert dict(members)["ComicInfo.xml"] == COMIC_INFO
    for name, data in members[:3]:
        image, original = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(pages[name]))
        assert image.format == original.format and image.size == original.size
        assert np.asarray(image.convert("RGB"))[:20, :20].mean() < 20  # the translated page, not the original
        if image.format == "JPEG":
            assert abs(books.jpeg_quality(image) - 80) <= 3
            assert abs(len(data) - len(pages[name])) < 0.5 * len(pages[name])  # no quality-100 bloat


@pytest.mark.parametrize("quality", [40, 75, 92])
def test_jpeg_quality_is_read_back_from_the_quantization_tables(quality):
    data = encoded(page_image("Q", 4), "JPEG", quality=quality)
    assert abs(books.jpeg_quality(Image.open(io.BytesIO(data))) - quality) <= 2


def test_folder_in_and_folder_out_keep_subfolders_and_extra_files(tmp_path):
    folder = tmp_path / "comic"
    (folder / "chapter2").mkdir(parents=True)
    (folder / "chapter2" / "01.png").write_bytes(encoded(page_image("B", 5), "PNG"))
    (folder / "01.png").write_bytes(encoded(page_image("A", 6), "PNG"))
    (folder / "notes.txt").write_text("credits")
    out = tmp_path / "comic-es"
    result = books.translate_book(str(folder), str(out), FakeTranslate(), "en", "es")
    assert result.written
    assert (out / "01.png").exists() and (out / "chapter2" / "01.png").exists()
    assert (out / "notes.txt").read_text() == "credits"


def test_pdf_in_cbz_out_and_cbz_in_pdf_out(three_page_cbz, tmp_path):
    import img2pdf
    import pypdfium2

    path, pages = three_page_cbz
    # CBZ -> PDF: the JPEG pages are embedded as they are written, not decoded and re-compressed.
    pdf_out = tmp_path / "book.es.pdf"
    result = books.translate_book(path, str(pdf_out), FakeTranslate(), "en", "es")
    assert result.written and any("ComicInfo.xml" in note for note in result.notes)
    pdf = pypdfium2.PdfDocument(str(pdf_out))
    assert len(pdf) == 3
    state = books.PageState(books.state_folder(str(pdf_out)))
    with books.open_book(path) as book:
        key = books.page_key("page1.jpg", book.content_key("page1.jpg"), "en", "es")
    assert state.page(key) in pdf_out.read_bytes()
    pdf.close()

    # PDF -> CBZ: each page rendered at the DPI, as JPEG.
    source_pdf = tmp_path / "scan.pdf"
    source_pdf.write_bytes(img2pdf.convert([pages["page1.jpg"], pages["page10.jpg"]]))
    cbz_out = tmp_path / "scan.es.cbz"
    fake = FakeTranslate()
    books.translate_book(str(source_pdf), str(cbz_out), fake, "en", "es", limits=books.Limits(dpi=100))
    assert fake.sent == ["page-0001.jpg", "page-0002.jpg"]
    members = read_cbz(cbz_out)
    assert [name for name, _ in members] == ["page-0001.jpg", "page-0002.jpg"]
    assert Image.open(io.BytesIO(members[0][1])).format == "JPEG"


# Resumability ----------------------------------------------------------------------------------------------


def test_an_interrupted_run_resumes_with_the_missing_pages_and_a_finished_run_sends_nothing(three_page_cbz, tmp_path):
    path, _ = three_page_cbz
    out = tmp_path / "book.es.cbz"
    first = FakeTranslate(stop_after=1)
    result = books.translate_book(path, str(out), first, "en", "es")
    assert result.interrupted and not result.written and not out.exists()
    assert first.sent == ["page1.jpg"]

    second = FakeTranslate()
    result = books.translate_book(path, str(out), second, "en", "es")
    assert second.sent == ["page2.png", "page10.jpg"] and result.written

    third = FakeTranslate()
    result = books.translate_book(path, str(out), third, "en", "es")
    assert third.sent == [] and result.up_to_date

    # Another target language is another translation: every page is sent again.
    fourth = FakeTranslate()
    books.translate_book(path, str(out), fourth, "en", "fr")
    assert len(fourth.sent) == 3


def test_a_failed_page_keeps_its_original_and_is_sent_again_next_run(three_page_cbz, tmp_path):
    path, pages = three_page_cbz
    out = tmp_path / "book.es.cbz"
    fake = FakeTranslate(fail={"page2.png": "cannot draw the text"})
    result = books.translate_book(path, str(out), fake, "en", "es")
    assert result.written and result.failed == {"page2.png": "[TextRenderer] cannot draw the text"}
    assert dict(read_cbz(out))["page2.png"] == pages["page2.png"]  # the original, byte for byte

    again = FakeTranslate()
    result = books.translate_book(path, str(out), again, "en", "es")
    assert again.sent == ["page2.png"] and not result.failed


def test_cli_reports_failed_pages_and_writes_the_book(three_page_cbz, tmp_path, monkeypatch, capsys):
    from transmodal import cli

    path, _ = three_page_cbz
    out = tmp_path / "book.es.cbz"
    fake = FakeTranslate(fail={"page10.jpg": "no result within 300 s"})
    monkeypatch.setattr(cli, "send_to_flow", lambda flow_path, args, send: (send_capture(send, fake), 130))
    code = cli.main(["translate-book", path, "--source", "en", "--target", "es", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED page10.jpg: [TextRenderer] no result within 300 s" in captured.err
    assert "page page1.jpg: translated" in captured.err
    assert "kept in the original language" in captured.err and out.exists()


def send_capture(send, fake: FakeTranslate) -> Report:
    """Run the CLI's `send(host)` against the fake: its TransmodalClient.process is swapped for the fake."""
    from transmodal import client

    original = client.TransmodalClient.process
    client.TransmodalClient.process = lambda self, docs, on_result=None, **options: fake(docs, on_result)
    try:
        return send("grpc://127.0.0.1:1")
    finally:
        client.TransmodalClient.process = original


# Bad input -------------------------------------------------------------------------------------------------


def files_under(folder) -> set[str]:
    return {os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names}


@pytest.mark.parametrize("member", ["../x.jpg", "/tmp/x.jpg", "pages/../../x.jpg", "C:/x.jpg"])
def test_member_names_that_point_outside_the_book_are_refused(tmp_path, member):
    book = make_cbz(tmp_path / "evil.cbz", [("01.jpg", encoded(page_image("A", 1), "JPEG")), (member, b"\xff\xd8")])
    before = files_under(tmp_path)
    with pytest.raises(books.BookError, match="unsafe member name"):
        books.translate_book(book, str(tmp_path / "out" / "evil.es.cbz"), FakeTranslate(), "en", "es")
    assert files_under(tmp_path) == before  # nothing written anywhere


def test_a_zip_bomb_is_refused_by_ratio_and_by_total_size(tmp_path):
    bomb = make_cbz(tmp_path / "bomb.cbz", [("01.png", b"\0" * (20 << 20))])  # 20 MB of zeros: ~20 kB
    with pytest.raises(books.BookError, match="ZIP bomb"):
        books.open_book(bomb)
    pages = [(f"{n:02d}.jpg", encoded(page_image("A", n), "JPEG")) for n in range(3)]
    big = make_cbz(tmp_path / "big.cbz", pages)
    limit = sum(len(data) for _, data in pages) - 1
    with pytest.raises(books.BookError, match="uncompress to over"):
        books.open_book(big, books.Limits(max_bytes=limit))
    assert not any(name.endswith(".transmodal") for name in os.listdir(tmp_path))
    # Many members each under the per-member check (1 MB of zeros, ~1 kB compressed): the whole archive is.
    many = make_cbz(tmp_path / "many.cbz", [(f"{n:03d}.png", b"\0" * ((1 << 20) - 1)) for n in range(120)])
    with pytest.raises(books.BookError, match="uncompress to .* from"):
        books.open_book(many)


def test_nested_archives_are_skipped_and_other_files_carried_over(tmp_path):
    inner = make_cbz(tmp_path / "inner.zip", [("a.jpg", encoded(page_image("A", 1), "JPEG"))])
    with open(inner, "rb") as file:
        nested = file.read()
    book = make_cbz(
        tmp_path / "nested.cbz",
        [("01.jpg", encoded(page_image("B", 2), "JPEG")), ("extra/volume2.cbz", nested), ("readme.txt", b"hi")],
    )
    out = tmp_path / "nested.es.cbz"
    fake = FakeTranslate()
    result = books.translate_book(book, str(out), fake, "en", "es")
    assert fake.sent == ["01.jpg"]
    assert any("volume2.cbz: skipped" in note and "nested" in note for note in result.notes)
    assert [name for name, _ in read_cbz(out)] == ["01.jpg", "readme.txt"]


def test_pdf_over_the_page_limit_and_password_protected_pdf_are_refused(tmp_path):
    import img2pdf
    import pikepdf

    page = encoded(page_image("P", 1, size=(100, 80)), "JPEG")
    long_pdf = tmp_path / "long.pdf"
    long_pdf.write_bytes(img2pdf.convert([page] * 5))
    with pytest.raises(books.BookError, match="5 pages, over the limit of 4"):
        books.open_book(str(long_pdf), books.Limits(max_pages=4))

    locked = tmp_path / "locked.pdf"
    with pikepdf.open(long_pdf) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="owner", user="secret"))
    with pytest.raises(books.BookError, match="password-protected"):
        books.translate_book(str(locked), str(tmp_path / "locked.es.cbz"), FakeTranslate(), "en", "es")
    assert not (tmp_path / "locked.es.cbz").exists()


def test_unreadable_books_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a comic")
    with pytest.raises(books.BookError, match="not a book this reads"):
        books.open_book(str(tmp_path / "notes.txt"))
    (tmp_path / "broken.cbz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(books.BookError, match="cannot read"):
        books.open_book(str(tmp_path / "broken.cbz"))


# ACBF ------------------------------------------------------------------------------------------------------

ACBF_BOOK = b"""<?xml version="1.0" encoding="utf-8"?>
<ACBF xmlns="http://www.fictionbook-lib.org/xml/acbf/1.1">
 <meta-data><book-info><book-title lang="en">Test</book-title></book-info></meta-data>
 <body>
  <page><image href="b.jpg"/>
   <text-layer lang="en">
    <text-area points="20,20 300,20 300,120 20,120" type="commentary"><p>MEANWHILE</p><p>IN TOWN</p></text-area>
   </text-layer>
  </page>
  <page><image href="a.jpg"/>
   <text-layer lang="en"><text-area points="10,10 200,10 200,90 10,90"><p>Hello there</p></text-area></text-layer>
  </page>
 </body>
</ACBF>
"""


def test_acbf_orders_the_pages_gives_their_text_and_gets_a_text_layer_per_page(tmp_path):
    book = make_cbz(
        tmp_path / "acbf.cbz",
        [
            ("a.jpg", encoded(page_image("A", 1), "JPEG")),
            ("b.jpg", encoded(page_image("B", 2), "JPEG")),
            ("c.jpg", encoded(page_image("C", 3), "JPEG")),  # not in the ACBF: after its pages
            ("book.acbf", ACBF_BOOK),
        ],
    )
    out = tmp_path / "acbf.es.cbz"
    fake = FakeTranslate()
    books.translate_book(book, str(out), fake, "en", "es")
    assert fake.sent == ["b.jpg", "a.jpg", "c.jpg"]
    first = fake.received[0]
    assert [region.text for region in first.regions] == ["MEANWHILE\nIN TOWN"]
    assert first.regions[0].kind == "caption" and len(first.regions[0].container) == 4
    assert not fake.received[2].regions  # no text given: the detector reads it

    written = acbf.parse(dict(read_cbz(out))["book.acbf"])
    assert written.languages == ["en", "es"]
    spanish = written.pages[0].text_areas("es")
    assert [area.text for area in spanish] == ["MEANWHILE\nIN TOWN!"]
    assert spanish[0].polygon == written.pages[0].text_areas("en")[0].polygon
    assert written.pages[1].text_areas("es")[0].text == "HELLO THERE!"

    # --ocr: the ACBF's text is not used.
    fake = FakeTranslate()
    books.translate_book(book, str(tmp_path / "ocr.es.cbz"), fake, "en", "es", use_acbf_text=False)
    assert all(not doc.regions for doc in fake.received)


def balloon_page() -> tuple[np.ndarray, list[list[float]], list[tuple[int, int, int, int]]]:
    """A white page with an outlined balloon (ellipse) holding two lines of lettering: pixels, the
    balloon's polygon, the lines' ink boxes."""
    from scenes import draw_lines

    pixels = np.full((300, 400, 3), 235, np.uint8)
    cv2.ellipse(pixels, (200, 150), (170, 100), 0, 0, 360, (255, 255, 255), -1)
    cv2.ellipse(pixels, (200, 150), (170, 100), 0, 0, 360, (0, 0, 0), 3)
    boxes = draw_lines(pixels, ["HELLO THERE,", "FRIEND!"], (200, 150), size=26)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    polygon = [[200 + 170 * np.cos(a), 150 + 100 * np.sin(a)] for a in angles]
    return pixels, polygon, boxes


def test_lettering_lines_inside_a_balloon_leave_its_outline_out():
    from executors.text_detector.containers import lettering_lines

    pixels, polygon, boxes = balloon_page()
    found = lettering_lines(pixels, polygon)
    assert len(found) == len(boxes)
    for (x0, y0, x1, y1), box in zip(found, boxes):
        assert abs(x0 - box[0]) <= 3 and abs(x1 - box[2]) <= 3 and abs(y0 - box[1]) <= 3 and abs(y1 - box[3]) <= 3


def test_text_detector_keeps_regions_that_arrive_with_their_text(monkeypatch):
    from executors.text_detector.executor import TextDetector
    from transmodal.media import encode_image

    detector = TextDetector(backend="tesseract")
    monkeypatch.setattr(detector.reader, "read", lambda *args: pytest.fail("the page was read: the text was given"))
    pixels, polygon, boxes = balloon_page()
    region = TextRegion(polygon=polygon, container=polygon, text="HELLO THERE, FRIEND!", kind="balloon")
    doc = MediaDoc(image=encode_image(pixels), regions=DocList[TextRegion]([region]), source_lang="en")
    [result] = detector.detect(DocList[MediaDoc]([doc]), {})
    assert not result.failed
    [kept] = result.regions
    assert kept.text == "HELLO THERE, FRIEND!" and kept.polygon == polygon and kept.kind == "balloon"
    assert len(kept.lines) == 2 and kept.style.font_size == pytest.approx(
        np.median([b[3] - b[1] for b in boxes]), abs=3
    )
    assert kept.style.alignment == "center" and result.text == "HELLO THERE, FRIEND!"


# The real Flow ---------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_translate_book_cli_runs_the_real_flow_on_a_two_page_cbz(tmp_path):
    import pytesseract

    signs = [make_sign(["NO PARKING"], size=(480, 320), background="flat", seed=11, font_size=40),
             make_sign(["OPEN"], size=(480, 320), background="flat", seed=12, font_size=48)]  # fmt: skip
    book = make_cbz(
        tmp_path / "signs.cbz",
        [(f"{n:02d}.jpg", encoded(sign.image, "JPEG", quality=90)) for n, sign in enumerate(signs, 1)]
        + [("ComicInfo.xml", COMIC_INFO)],
    )
    out = tmp_path / "signs.es.cbz"
    command = [sys.executable, "-m", "transmodal.cli", "translate-book", book, "-s", "en", "-t", "es", "-o", str(out)]
    environment = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=540, cwd=ROOT, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    members = dict(read_cbz(out))
    assert list(members) == ["01.jpg", "02.jpg", "ComicInfo.xml"]
    readings = []
    for name in ("01.jpg", "02.jpg"):
        image = Image.open(io.BytesIO(members[name]))
        assert image.format == "JPEG" and image.size == (480, 320)
        readings.append(pytesseract.image_to_string(image, lang="spa", config="--psm 11").lower())
    assert "parking" not in readings[0] and "open" not in readings[1], readings
    assert "abierto" in readings[1] or "aparcamiento" in readings[0] or "estacionar" in readings[0], readings

    again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=environment)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr[-3000:]
