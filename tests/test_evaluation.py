"""The evaluation's measures and the ACBF reader, on tiny inputs written here (no fetched data needed),
plus checks of the hand annotations and, when `make eval-data` has run, of the fetched comic."""

import json
import os

import numpy as np
import pytest

from evaluation import datasets, measures
from transmodal import acbf

ACBF = b"""<?xml version="1.0" encoding="utf-8"?>
<ACBF xmlns="http://www.fictionbook-lib.org/xml/acbf/1.1">
 <meta-data>
  <book-info>
   <author activity="Writer"><first-name>Ann</first-name><last-name>Author</last-name></author>
   <book-title lang="sk">Kniha</book-title>
   <book-title lang="en">The Book</book-title>
   <languages><text-layer lang="en" show="False"/><text-layer lang="sk" show="True"/></languages>
  </book-info>
  <publish-info><license>CC BY 4.0</license></publish-info>
 </meta-data>
 <body>
  <page>
   <image href="01.jpg"/>
   <text-layer lang="en">
    <text-area points="10,20 110,20 110,60 10,60" type="commentary" bgcolor="#ffff00">
     <p>MEANWHILE, IN THE <emphasis>CITY</emphasis>...</p>
    </text-area>
    <text-area points="200,200 260,190 300,240 220,260">
     <p>HELLO,</p><p>WORLD!</p>
    </text-area>
   </text-layer>
   <text-layer lang="sk">
    <text-area points="10,20 110,20 110,60 10,60" type="commentary"><p>MEDZITYM V MESTE...</p></text-area>
    <text-area points="200,200 260,190 300,240 220,260"><p>AHOJ, SVET!</p></text-area>
   </text-layer>
  </page>
  <page>
   <image href="#page2"/>
   <text-layer lang="en">
    <text-area points="0,0 5,0 5,5" type="code" inverted="true" text-rotation="90"><p>&gt; ok</p></text-area>
   </text-layer>
  </page>
 </body>
 <data><binary id="page2" content-type="image/png">iVBORw0KGgo=</binary></data>
</ACBF>
"""


def test_acbf_pages_text_areas_and_metadata():
    book = acbf.parse(ACBF)
    assert book.title == "The Book"
    assert book.languages == ["en", "sk"]
    assert book.license == "CC BY 4.0"
    assert book.authors == ["Ann Author"]
    assert [page.image for page in book.pages] == ["01.jpg", "#page2"]

    caption, balloon = book.pages[0].text_areas("en")
    assert caption.text == "MEANWHILE, IN THE CITY..."  # inline markup dropped, its text kept
    assert caption.polygon == [(10, 20), (110, 20), (110, 60), (10, 60)]
    assert caption.box == (10, 20, 110, 60)
    assert (caption.type, caption.kind, caption.bgcolor) == ("commentary", "caption", "#ffff00")
    assert balloon.text == "HELLO,\nWORLD!"  # paragraphs on lines of their own
    assert (balloon.type, balloon.kind) == ("speech", "balloon")  # speech is the default type
    assert [area.text for area in book.pages[0].text_areas("sk")] == ["MEDZITYM V MESTE...", "AHOJ, SVET!"]
    assert book.pages[0].text_areas("de") == []

    code = book.pages[1].text_areas("en")[0]
    assert (code.text, code.inverted, code.rotation) == ("> ok", True, 90.0)
    assert book.image_data("#page2") == b"\x89PNG\r\n\x1a\n"
    assert book.image_data("01.jpg") is None


def test_acbf_rejects_other_documents():
    with pytest.raises(acbf.AcbfError, match="not an ACBF"):
        acbf.parse(b"<FictionBook/>")
    with pytest.raises(acbf.AcbfError, match="well-formed"):
        acbf.parse(b"<ACBF><body>")
    with pytest.raises(acbf.AcbfError, match="bad point"):
        acbf.parse(
            b'<ACBF><body><page><text-layer lang="en"><text-area points="1,2 x,y"/></text-layer></page></body></ACBF>'
        )


def test_normalize_case_punctuation_hyphens_and_line_breaks():
    assert measures.normalize("SHE\u2019D BEEN IN-GAME\nFOR HOURS...") == "she'd been in game for hours"
    assert measures.normalize("> 'Quoted' -- text!") == "quoted text"
    assert measures.normalize("3,522 KILLS") == "3522 kills"
    assert measures.normalize(None) == ""
    assert measures.words("a big DOG", min_length=3) == ["big", "dog"]
    assert not measures.has_letters("> ... 42!") and measures.has_letters("OK.")


def test_word_accuracy_counts_spaces():
    # "NOPARKING" is two misses: spaces count.
    assert measures.bag_hits(measures.words("NO PARKING"), measures.words("NOPARKING")) == (0, 2)
    assert measures.bag_hits(measures.words("No parking"), measures.words("PARKING, no!")) == (2, 2)
    # Each hypothesis word is used once.
    assert measures.bag_hits(["the", "the", "cat"], ["the", "cat", "cat"]) == (2, 3)
    assert measures.bag_hits([], ["x"]) == (0, 0)


def test_substring_hits_find_words_inside_merged_tokens():
    assert measures.substring_hits(["parking", "only", "zebra"], "NOPARKING, ANDTHEONLY") == (2, 3)
    assert measures.substring_hits(["only", "only"], "only") == (1, 2)
    # a drawn translation word is not leftover source inside it; a merged token still is
    assert measures.substring_hits(["protest", "person"], "PROTESTARÍA PERSONAS", exclude=["protestaría"]) == (1, 2)
    # several readings of one output (whole page, block by block): the reading showing a word most counts
    assert measures.substring_hits(["only", "only", "zebra"], ["only", "only only"]) == (2, 3)


def test_bag_hits_any_takes_each_word_from_the_reading_that_shows_it_most():
    assert measures.bag_hits_any(["centro", "copia", "copia"], [["copia"], ["centro", "copia", "copia"]]) == (3, 3)
    assert measures.bag_hits_any(["centro"], [["centro"], ["centro"]]) == (1, 1)  # read twice, counted once
    assert measures.bag_hits_any(["centro"], []) == (0, 1)


def test_tesseract_reads_a_drawn_block_in_its_crop():
    from PIL import Image, ImageDraw, ImageFont

    from evaluation.image_translation import tesseract_blocks
    from transmodal import fonts

    image = Image.new("RGB", (400, 200), (230, 230, 230))
    ImageDraw.Draw(image).text(
        (40, 80), "Centro de copia", font=ImageFont.truetype(fonts.font_path(fonts.SANS), 36), fill=(20, 20, 20)
    )
    texts = tesseract_blocks(np.asarray(image), [(30.0, 70.0, 360.0, 130.0), (0.0, 0.0, 30.0, 30.0)], "es")
    assert len(texts) == 2 and "Centro de copia" in texts[0] and not texts[1].strip()


def test_char_errors_and_ratio():
    assert measures.char_errors("No Parking!", "no parking") == (0, 10)
    assert measures.char_errors("NO PARKING", "NOPARKING") == (1, 10)
    assert measures.char_errors("abc", "") == (3, 3)
    assert measures.ratio(1, 4) == 0.25 and measures.ratio(1, 0) is None


def test_matching_lines_blocks_and_misses():
    annotated = [(0, 0, 100, 40), (0, 50, 100, 90)]
    detected = [
        (5, 5, 95, 20),  # a line inside the first block
        (0, 0, 100, 90),  # one region spanning both blocks
        (300, 300, 340, 320),  # artwork read as text
        (90, 30, 140, 45),  # a sliver overlapping the first block by less than half of itself
    ]
    matches = measures.match(detected, annotated)
    assert matches == [[0], [0, 1], [], []]
    # The spanning region joins both areas into one group; a third, missed area stands alone.
    assert measures.groups(matches, 3) == [([0, 1], [0, 1]), ([2], [])]
    assert measures.coverage((0, 0, 10, 10), (0, 0, 20, 20)) == 1.0
    assert measures.coverage((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_layout_measures():
    assert measures.overlapping([(0, 0, 10, 10), (5, 5, 15, 15), (20, 20, 30, 30)]) == [True, True, False]
    assert measures.overlapping([(0, 0, 10, 10), (10, 0, 20, 10)]) == [False, False]  # touching is fine
    square = measures.box_polygon((0, 0, 100, 100))
    assert measures.outside_share((10, 10, 50, 50), square) == pytest.approx(0.0, abs=0.01)
    assert measures.outside_share((50, 10, 150, 50), square) == pytest.approx(0.5, abs=0.02)
    triangle = [[0, 0], [100, 0], [0, 100]]
    assert measures.outside_share((0, 0, 100, 100), triangle) == pytest.approx(0.5, abs=0.03)
    assert measures.polygon_box([[3, 4], [10, 2], [7, 9]]) == (3, 2, 10, 9)


def test_hand_annotations_are_well_formed():
    folder = os.path.join(os.path.dirname(datasets.__file__), "annotations")
    with open(os.path.join(folder, "photos.json")) as file:
        annotations = json.load(file)
    images = annotations["images"]
    assert len(images) >= 10
    assert len({image["id"] for image in images}) == len(images)
    for image in images:
        source = datasets.SOURCES[image["source"]]
        assert image["path"] in source.files, image["id"]
        scored = [area for area in image["areas"] if not area.get("ignore")]
        assert scored, image["id"]
        for area in image["areas"]:
            x0, y0, x1, y1 = area["box"]
            assert x0 < x1 and y0 < y1, (image["id"], area)
            assert area.get("ignore") or measures.has_letters(area["text"]), (image["id"], area)


def test_datasets_paths_and_require(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    assert datasets.path("opencv-doc", "usr/a.jpg") == str(tmp_path / "opencv-doc" / "usr" / "a.jpg")
    assert datasets._split_inner("testing/data/x.cbz/01.jpg") == ("testing/data/x.cbz", "01.jpg")
    assert datasets._split_inner("a/b.jpg") == ("a/b.jpg", None)
    assert set(datasets.missing()) == set(datasets.SOURCES)
    with pytest.raises(pytest.skip.Exception, match="make eval-data"):
        datasets.require("comictagger")


def test_fetched_comic_matches_its_acbf():
    datasets.require("comictagger")
    from evaluation.image_translation import comic_items

    pages = comic_items(slice(None))
    assert len(pages) == 23
    areas = [area for page in pages for area in page.areas if not area.ignore]
    assert len(areas) > 200
    assert all(area.text for area in areas)
    assert any(not area.translate for area in areas)  # e.g. "LUCY?", unchanged in the Slovak edition
