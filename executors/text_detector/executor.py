import concurrent.futures
import dataclasses
import re

import cv2
import numpy as np
from docarray import DocList
from jina import Executor, requests

from executors.text_detector import containers
from executors.text_detector.backends import DETECTORS
from transmodal import languages, words
from transmodal.docs import MediaDoc, TextRegion
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image_scaled
from transmodal.ocr.lines import (
    Line,
    estimate_alignment,
    group_into_blocks,
    has_words,
    reading_order,
    regions_from_lines,
    union,
)
from transmodal.processing import fail_invalid_request, for_each_doc, traced

# A region read with less confidence than `min_confidence` is still kept from this confidence up when its
# text reads as words of the language (four fifths of its letters in known words).
WORDS_MIN_CONFIDENCE = 0.3


class TextDetector(Executor):
    """Finds the text in each document's `image`: fills `regions` (one per block of text, with its box,
    line boxes, text, confidence and style) and `text` (the regions' texts, one a line, in reading order).

    The backend returns the page's lines; this executor does the rest for every backend alike: the
    balloon, caption box or sign panel around each line found (`containers.py`; lines of one container
    make one block, never two containers one), lines into regions (words hyphenated over lines rejoined),
    noise, low-confidence regions and drawings read as text dropped, sound effects marked (kind "sfx",
    left untouched unless `translate_sfx`), spaces lost between words put back, regions in reading order.
    The language to read is resolved by `transmodal.languages.resolve` (document, request, `with:`); the
    document leaves with it normalised. The image itself is not changed.

    A document that arrives with regions whose text is given (a comic's ACBF text areas) is not read: its
    regions are kept, with their line boxes, font size and alignment measured from the ink inside each
    region's polygon when they lack them (what erasing and rendering need).
    """

    def __init__(
        self,
        backend: str = "rapidocr+tesseract",
        backend_options: dict | None = None,
        source_lang: str = "en",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        min_confidence: float = 0.5,
        find_containers: bool = True,
        translate_sfx: bool = False,
        min_line_height: float = 10.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reader = DETECTORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.max_pixels = max_pixels
        self.min_confidence = min_confidence
        self.find_containers = find_containers  # balloons, caption boxes, sign panels around the text
        self.translate_sfx = translate_sfx  # sound effects are left as drawn unless this is set
        self.min_line_height = min_line_height  # smaller print is left as it is (flag "too_small")
        self.ahead = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # the containers searched while reading

    def _confident(self, region: TextRegion, language: str) -> bool:
        """Read with enough confidence, or read as words of the language with some: a real sign read with
        doubt ("INOPARKING:" at 0.49, the panel's edge taken for an I) is kept, noise in the artwork is not."""
        if region.confidence >= self.min_confidence:
            return True
        if region.confidence < WORDS_MIN_CONFIDENCE:
            return False
        known, unknown = words.word_score(words.split_words(region.text, language), language)
        return known >= 4 and known >= 4 * -unknown

    def _describe(
        self, searches: containers.Searches, region: TextRegion, found: list[containers.Container], language: str
    ) -> bool:
        """Sets the region's container and kind; False for marks that are not text (drawings read as text)."""
        pixels = searches.pixels
        x0, y0, x1, y1 = region.box
        lines = [(line[0], line[1], line[2], line[3]) for line in region.lines]
        # A drawn page has a container outlined in ink: there, panels are balloons or captions, never signs.
        drawn_page = any(container.outlined for container in found)
        holder = next((c for c in found if c.contains((x0 + x1) / 2, (y0 + y1) / 2)), None)
        if holder is not None and _covered(region.box, holder.box) < _held_share(holder):
            # Seen from its first lines, a balloon can come out partial: look again from the whole block,
            # and rather no container than one the text sticks out of (erasure and rendering trust it).
            again = searches.find(region.box, lines, drawn=True if drawn_page else None)
            holder = again if again is not None and _covered(region.box, again.box) >= _held_share(again) else None
        # A flat patch of wall or sky round lettering drawn on the picture passes for a container: no ink
        # outlines it, and the lettering looks like a sound effect ("CLAP CLAP" on a real comic's wall);
        # lines slanting like a sound effect's are one even where a shape outlined in ink holds them (a
        # "CLAP" over a character's hair). Dialogue is lettered level.
        slanted = abs(region.style.angle) > containers.SFX_MIN_ANGLE
        if (
            holder is not None
            and drawn_page
            and (slanted or (not holder.outlined and containers.looks_like_sfx(pixels, region.box, lines)))
        ):
            holder = None
        if holder is not None:
            region.container = [[float(x), float(y)] for x, y in holder.polygon]
            region.fills_container = holder.filled_by_text
            region.kind = holder.kind
            return True
        if not self.find_containers:
            return True
        # Sound effects are drawn: only on a drawn page, never on a photo's sign. Lettering outlined or big
        # is one; so is slanted lettering, but a short reading that only slants, in shapes unlike letters,
        # is the art misread (a drawn shop sign read "PEAR") and goes to the check below.
        short = sum(char.isalnum() for char in region.text) <= 4
        slanted_lettering = drawn_page and slanted and (not short or containers.is_text_like(pixels, region.box))
        if slanted_lettering or (drawn_page and containers.looks_like_sfx(pixels, region.box, lines)):
            region.kind = "sfx"
            if not self.translate_sfx:
                region.flags.append("untouched")
            return True
        # A short "word" on the picture itself may be a small drawing the OCR read as text (an icon), or
        # stripes read as lower-case letters that make no word ("iva" for a game screen's chevrons).
        listed = words.vocabulary(language) if short and region.text.islower() else None
        if listed is not None and not any(char.isdigit() for char in region.text):
            spellings = [listed.spelling(word) for word in re.findall(r"[^\W\d_]+", region.text)]
            if not all(spelling and spelling.islower() for spelling in spellings):  # ("Iva" is a name)
                return False
        return not short or containers.is_text_like(pixels, region.box)

    @requests
    def detect(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)

        # The job's glossary names the book's names and terms: OCR must not cut them into words either
        # ("ANDA" read on a page where it occurs once would become "AND A", which the glossary then misses).
        glossary_words = {
            term.lower()
            for term in (parameters or {}).get("glossary") or {}
            if term.strip() and " " not in term.strip()
        }

        def detect_text(doc: MediaDoc) -> None:
            language = languages.resolve(
                doc.source_lang, parameters, "source_lang", self.source_lang, "source language"
            )
            self.reader.check_language(language)  # before decoding: the cheaper check first
            # Large images are read on fewer pixels (a memory budget); regions come back in full-size pixels.
            pixels, scale = decode_image_scaled(doc.image, self.max_pixels)
            if has_given_text(doc):
                for region in doc.regions:
                    measure_given_region(pixels, scale, region)
                doc.text = "\n".join(region.text for region in doc.regions)
                doc.source_lang = language
                return
            searches = containers.Searches(pixels)
            ahead: list[concurrent.futures.Future] = []

            def search_ahead(found_lines: list[Line]) -> None:
                # The containers of all the lines found are looked for while the lines are read (the cores
                # are not all busy reading): the search below, from the lines read as words, then finds
                # most of its searches made (the detector 6.5 % faster on the real comic pages).
                copies = [dataclasses.replace(line) for line in found_lines]
                ahead.append(self.ahead.submit(group_by_container, searches, copies))

            read = self.reader.read(pixels, language, on_lines=search_ahead if self.find_containers else None)
            lines = [line for line in read if has_words(line.text)]
            concurrent.futures.wait(ahead)  # (its result is not used: only the searches it made)
            found = group_by_container(searches, lines) if self.find_containers else []
            lines = without_stray_marks(lines, found)
            regions = [
                region
                for region in regions_from_lines(lines, language)
                if has_words(region.text) and self._confident(region, language)
            ]
            regions = [region for region in regions if self._describe(searches, region, found, language)]
            restore_word_spaces(regions, language, glossary_words)
            regions = [scaled_region(region, 1 / scale) for region in regions]
            for region in regions:
                mark_if_too_small(region, self.min_line_height)
            doc.regions = DocList[TextRegion](reading_order(regions))
            doc.text = "\n".join(region.text for region in doc.regions)
            doc.source_lang = language

        for_each_doc(docs, self.metas.name, detect_text)
        return traced(docs, self)


def has_given_text(doc: MediaDoc) -> bool:
    """The document comes with its regions and their text (from an ACBF file, a previous run): no OCR."""
    return len(doc.regions) > 0 and all(region.text.strip() and len(region.polygon) >= 3 for region in doc.regions)


def measure_given_region(pixels: np.ndarray, scale: float, region: TextRegion) -> None:
    """Fill in what a given region lacks and later stages use: line boxes from the ink inside its polygon
    (on `pixels`, which are the image at `scale`), font size (median line height) and alignment."""
    if not region.lines:
        outline = [[x * scale, y * scale] for x, y in region.polygon]
        region.lines = [[value / scale for value in box] for box in containers.lettering_lines(pixels, outline)]
    if region.lines and region.style.font_size is None:
        lines = [Line(box=(box[0], box[1], box[2], box[3])) for box in region.lines]
        region.style.font_size = float(np.median([line.height for line in lines]))
        region.style.alignment = estimate_alignment(lines, region.style.font_size)
    if not region.confidence:
        region.confidence = 1.0


def mark_if_too_small(region: TextRegion, min_line_height: float) -> None:
    """Flag a block whose lines are under `min_line_height` pixels (fine print, a logo's small type) to be
    left as it is ("untouched", "too_small"): no translation can be drawn legibly in its place, and the
    CLI lists it for a person to look at."""
    x0, y0, x1, y1 = region.box
    heights = [min(bx1 - bx0, by1 - by0) for bx0, by0, bx1, by1 in region.lines] or [min(x1 - x0, y1 - y0)]
    if float(np.median(heights)) < min_line_height:
        for flag in ("untouched", "too_small"):
            region.add_flag(flag)


def restore_word_spaces(
    regions: list[TextRegion], language: str, names: set[str] | frozenset[str] = frozenset()
) -> None:
    """Put back the spaces OCR loses in widely tracked capitals and comic lettering ("NOPARKING" -> "NO
    PARKING") and the letters it confuses there ("YOL" -> "YOU"), with the language's word list. Words
    that recur on the page are kept whole even when unknown: they are the page's names ("ANDA" must not
    become "AND A"); a misread is corrected into a name read elsewhere on the page ("LLCY" -> "LUCY"); a
    misread that makes another word is corrected by the words round it ("KILL THEN," -> "KILL THEM,").
    `names`: lower-case words known to be the job's names and terms (its glossary's), kept whole too.
    On a page lettered in capitals, a word still read with a stray lower-case letter ("JuST") is then put
    in capitals (after the corrections, which tell "Hl" is "Hi" by its look-alike lower-case "l"), so that
    its block is translated and drawn as capitals."""
    texts = [region.text for region in regions]
    names_read = words.names_in(texts, language)
    keep = words.recurring_words(texts, language, names=names_read) | names_read | set(names)
    for region in regions:
        text = words.mend_inner_capitals(region.text, language)
        text = words.split_words(words.correct_misreads(text, language, keep), language, keep=keep)
        text = words.drop_stray_quote(text)
        region.text = words.correct_in_context(text, language, keep)
    if words.lettered_in_capitals(region.text for region in regions):
        for region in regions:
            region.text = words.capitals_throughout(region.text)


def group_by_container(searches: containers.Searches, lines: list[Line]) -> list[containers.Container]:
    """The containers the lines sit in; lines of one container become one block (their `block` id), so
    lines of two neighbouring balloons are never merged, however close."""
    groups = searches.group_lines([line.box for line in lines])
    found: list[containers.Container] = []
    members: list[list[int]] = []
    for indices, container in groups:
        if container is None:
            continue
        # One balloon found twice from two of its lines (each line sees part of it): one container.
        same = next((n for n, other in enumerate(found) if _mostly_overlapping(other.box, container.box)), None)
        if same is None:
            found.append(container)
            members.append(list(indices))
        else:
            found[same] = _merged(found[same], container)
            members[same] += indices
    # Seen from one line, a balloon whose lines are packed tight can come out cut through its text (the
    # other lines' letters touch and wall part of it off), and its lines beyond the cut find no container
    # of their own. Each container is found again from all its lines and the container-less lines
    # touching them; it takes those lines only if it then holds them all.
    orphans = [index for indices, container in groups if container is None for index in indices]
    drawn = True if any(container.outlined for container in found) else None
    for number, indices in enumerate(members):
        boxes = [lines[index].box for index in indices]
        near = _whole_paragraphs(_touching_lines([lines[index].box for index in orphans], boxes), orphans, lines)
        candidates = boxes + [lines[orphans[n]].box for n in near]
        if not near and found[number].holds(boxes) >= 0.98:
            continue
        again = searches.find(union(candidates), candidates, drawn=drawn)
        if again is not None and near and again.holds(candidates) >= 0.98:
            found[number] = again
            members[number] += [orphans[n] for n in near]
            orphans = [index for n, index in enumerate(orphans) if n not in near]
        elif again is not None and again.holds(boxes) > found[number].holds(boxes):
            # found from its own lines only (the one just found may have taken in lines it does not hold)
            own = again if not near else searches.find(union(boxes), boxes, drawn=drawn)
            found[number] = own or found[number]
    # A container found again whole can now hold the lines of a smaller one (the part of the balloon one
    # line saw): those lines join it, and the smaller one goes.
    for small in range(len(found)):
        for large in range(len(found)):
            if small == large or not members[small] or found[large].area <= found[small].area:
                continue
            centers = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (lines[i].box for i in members[small])]
            if all(found[large].contains(x, y) for x, y in centers):
                members[large] += members[small]
                members[small] = []
                break
    found, members = [c for c, m in zip(found, members) if m], [m for m in members if m]
    # A line at a balloon's edge may find no container of its own: it belongs to the one around it, with
    # its paragraph if the container holds that whole (a paragraph's last line is not torn from it).
    for paragraph in _paragraphs(orphans, lines):
        boxes = [lines[index].box for index in paragraph]
        centers = [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in boxes]
        holder = next((n for n, c in enumerate(found) if all(c.contains(x, y) for x, y in centers)), None)
        if holder is not None:
            members[holder] += paragraph
    # On a photo, a sign's text may fill its panel to the border, where the search from its lines failed:
    # each paragraph still in no container is looked at once more for such a panel.
    if not any(container.outlined for container in found):
        held = {index for indices in members for index in indices}
        for paragraph in _paragraphs([index for index in orphans if index not in held], lines):
            boxes = [lines[index].box for index in paragraph]
            panel = searches.panel_filled_by_text(union(boxes), boxes)
            if panel is not None:
                found.append(panel)
                members.append(paragraph)
    # A container reaching over lines in no container (a flat patch of a page grown in between the lines
    # of a paragraph) is no balloon or panel: its lines stand on their own, and the renderer must not
    # take it for a shape to keep clear of.
    held = {index for indices in members for index in indices}
    free = [line.box for index, line in enumerate(lines) if index not in held]
    for number in range(len(members)):
        if any(found[number].holds([box]) >= 0.3 for box in free):
            members[number] = []
    found, members = [c for c, m in zip(found, members) if m], [m for m in members if m]
    # On a drawn page (some container outlined in ink), a flat panel is a balloon or caption, not a sign.
    if any(container.outlined for container in found):
        for container in found:
            if container.kind == "sign":
                container.kind = "caption" if container.rectangular else "balloon"
    for number, indices in enumerate(members):
        for index in indices:
            lines[index].block = ("container", number)
    return found


# A balloon is lettered in one size: a line under this share of its tallest line's height is no line of
# its lettering but a scrap of what is drawn beside it (a sound effect's letter read as 'of"' and joined to
# a switch's "OFF" label: a 9-pixel line beside a 38-pixel one). On the real comic pages that was the only
# such line in a balloon; on the photos a caption's small line ("at" under a gallery's name) is real text,
# so only balloons are cleaned.
STRAY_MARK_SHARE = 0.5


def without_stray_marks(lines: list[Line], found: list[containers.Container]) -> list[Line]:
    """The lines less those far smaller than the other lines of their balloon (`STRAY_MARK_SHARE`)."""

    def lettering(line: Line) -> float:  # a row's height, a vertical column's width
        return min(line.width, line.height)

    def balloon(line: Line):
        block = line.block
        in_balloon = isinstance(block, tuple) and block[0] == "container" and found[block[1]].kind == "balloon"
        return block if in_balloon else None

    largest: dict = {}
    for line in lines:
        if balloon(line) is not None:
            largest[line.block] = max(largest.get(line.block, 0.0), lettering(line))
    return [
        line for line in lines if balloon(line) is None or lettering(line) >= STRAY_MARK_SHARE * largest[line.block]
    ]


def _touching_lines(candidates, boxes) -> list[int]:
    """The indices of the `candidates` that continue the block of `boxes` (lines of one balloon): above
    or below it by at most a line's height, overlapping it across by half their width; repeated, so a
    run of such lines is taken whole."""
    block = list(boxes)
    taken: list[int] = []
    changed = True
    while changed:
        changed = False
        x0, y0, x1, y1 = union(block)
        height = float(np.median([b[3] - b[1] for b in block]))
        for n, (cx0, cy0, cx1, cy1) in enumerate(candidates):
            if n in taken:
                continue
            across = min(x1, cx1) - max(x0, cx0)
            gap = max(cy0 - y1, y0 - cy1)
            if across >= 0.5 * (cx1 - cx0) and gap <= height:
                taken.append(n)
                block.append((cx0, cy0, cx1, cy1))
                changed = True
    return taken


def _whole_paragraphs(near: list[int], orphans: list[int], lines: list[Line]) -> list[int]:
    """`near` (indices into `orphans`) with the other lines of their paragraphs: a line in no container
    goes into one only with the lines it forms a paragraph with. A container then takes them all or
    none, so the last line of a page's paragraph is not pulled away from it into a flat area below."""
    position = {index: n for n, index in enumerate(orphans)}
    taken = set(near)
    for paragraph in _paragraphs(orphans, lines):
        members = {position[index] for index in paragraph}
        if members & taken:
            taken |= members
    return sorted(taken)


def _paragraphs(indices: list[int], lines: list[Line]) -> list[list[int]]:
    """The lines `indices` point at, grouped into paragraphs by geometry (`group_into_blocks`), as indices."""
    index_of = {id(lines[index]): index for index in indices}
    return [[index_of[id(line)] for line in block] for block in group_into_blocks([lines[i] for i in indices])]


def _held_share(container: containers.Container) -> float:
    """How much of a block's box its container must hold: nearly all, but a sign panel the text fills
    holds less (the text's box takes in a strip of the panel's border)."""
    return 0.75 if container.filled_by_text else 0.9


def _covered(box: tuple[int, int, int, int], by: tuple[int, int, int, int]) -> float:
    """The fraction of `box` inside `by`."""
    width = max(0, min(box[2], by[2]) - max(box[0], by[0]))
    height = max(0, min(box[3], by[3]) - max(box[1], by[1]))
    return width * height / max(1, (box[2] - box[0]) * (box[3] - box[1]))


def _mostly_overlapping(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return False
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height >= 0.25 * smaller


def _merged(a: containers.Container, b: containers.Container) -> containers.Container:
    """The two views of one container as one: the convex hull of both outlines."""
    points = np.asarray(a.polygon + b.polygon, np.float32)
    hull = cv2.convexHull(points).reshape(-1, 2)
    return dataclasses.replace(
        a if a.area >= b.area else b,
        polygon=hull.tolist(),
        area=float(cv2.contourArea(hull)),
        outlined=a.outlined or b.outlined,
    )


def scaled_region(region: TextRegion, factor: float) -> TextRegion:
    """The region with every coordinate multiplied by `factor` (itself when factor is 1)."""
    if factor == 1.0:
        return region

    def points(values: list[list[float]]) -> list[list[float]]:
        return [[value * factor for value in point] for point in values]

    region.polygon = points(region.polygon)
    region.lines = points(region.lines)
    region.container = points(region.container)
    if region.style.font_size is not None:
        region.style.font_size *= factor
    return region
