"""Image translation measured on real material: comic pages, photos, and generated signs as the baseline.

    transmodal eval image-translation [--set comics] [--limit N] [--json FILE] [--out DIR]
    make eval

One Flow (flow.yml by default) is started once; every image goes through it as a request of its own,
English to Spanish, through the same client the CLI uses, and the result is compared with the image's
annotations. Prints one Markdown table per set; evaluation/README.md says what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from evaluation import datasets
from evaluation.measures import (
    bag_hits,
    bag_hits_any,
    box_polygon,
    char_errors,
    coverage,
    groups,
    has_letters,
    match,
    normalize,
    outside_share,
    overlapping,
    polygon_box,
    ratio,
    substring_hits,
    words,
)

ANNOTATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "annotations")
SOURCE_LANG, TARGET_LANG = "en", "es"
TESSERACT_LANGS = {"en": "eng", "es": "spa", "de": "deu", "fr": "fra"}
READABLE_MIN_LENGTH = 3  # shorter words are left out of the readability counts: OCR noise matches them
LEFTOVER_MIN_LENGTH = 4  # source words looked for inside merged OCR tokens: shorter ones match by chance
CONTAINER_TOLERANCE = 0.05  # a drawn block may stick out of its container by this share of its area
SIGN_COUNT, SIGN_SEED = 12, 8
FULL_SIGN_COUNT = 48
# By default every other page of the story (01, 03, ... 21: 11 of 23) keeps `make eval` near 10 minutes on
# 2 cores; --full takes every page, the last one included: an interview set as prose (670 words, which
# would outweigh the lettering in the word counts, and 100 s to translate).
COMIC_PAGES, FULL_COMIC_PAGES = slice(0, 22, 2), slice(None)
COMIC_ACBF = datasets._CBZ + "/AndasGame.acbf"
# The folio ("[5]") at the foot of each comic page is not in the ACBF: a detection there counts neither way.
COMIC_FOLIO = (590.0, 1960.0, 740.0, 2030.0)


@dataclasses.dataclass
class Area:
    text: str
    box: tuple[float, float, float, float]  # what a detected region must overlap (text block, or balloon)
    polygon: list[list[float]]  # pixels that must stay identical when translate is False
    container: list[list[float]] | None = None  # balloon, caption box or sign panel; None: the image
    kind: str = "text"
    translate: bool = True
    ignore: bool = False  # unreadable or unannotated text: a detection there counts neither way


@dataclasses.dataclass
class Item:
    id: str
    image: bytes
    areas: list[Area]
    source: str  # "package==version file" or "transmodal.synthetic"


@dataclasses.dataclass
class SetSpec:
    name: str
    title: str
    load: Callable[[bool], list[Item]]  # full -> the images (full: the larger variant of the set)
    sources: list[str]  # the datasets it needs


def _container(value) -> list[list[float]] | None:
    if not value:
        return None
    return box_polygon(value) if not isinstance(value[0], (list, tuple)) else [list(map(float, p)) for p in value]


def generated_items(count: int = SIGN_COUNT, seed: int = SIGN_SEED) -> list[Item]:
    """Signs from transmodal.synthetic (fixed seed): one block each, the panel is the whole image."""
    from transmodal.media import encode_image
    from transmodal.synthetic import sign_set

    items = []
    for index, sign in enumerate(sign_set(count, seed=seed)):
        boxes = np.array(sign.line_boxes, dtype=float)
        box = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
        area = Area(text="\n".join(sign.lines), box=box, polygon=box_polygon(box), kind="sign")
        items.append(
            Item(
                f"sign-{index:02d}-{sign.background}",
                encode_image(sign.image),
                [area],
                f"transmodal.synthetic.sign_set({count}, seed={seed})",
            )
        )
    return items


def comic_items(pages: slice = COMIC_PAGES) -> list[Item]:
    """The comic's pages with the ACBF's English text areas (each area's polygon is its balloon or caption).

    An area needs no translation when its text has no letters or the book's Slovak translation leaves it
    unchanged (names such as "LUCY?", "OK.", a chat line already in Spanish)."""
    from transmodal import acbf

    source = datasets.SOURCES["comictagger"]
    with open(datasets.path("comictagger", COMIC_ACBF), "rb") as file:
        book = acbf.parse(file.read())
    folder = os.path.dirname(COMIC_ACBF)
    items = []
    for page in book.pages[pages]:
        areas = []
        english, slovak = page.text_areas("en"), page.text_areas("sk")
        for index, text_area in enumerate(english):
            if len(text_area.polygon) < 3:
                continue
            polygon = [list(point) for point in text_area.polygon]
            other = slovak[index].text if index < len(slovak) else None
            keep = not has_letters(text_area.text) or (
                other is not None and normalize(other) == normalize(text_area.text)
            )
            areas.append(
                Area(
                    text=text_area.text,
                    box=polygon_box(polygon),
                    polygon=polygon,
                    container=polygon,
                    kind=text_area.kind,
                    translate=not keep,
                )
            )
        areas.append(Area(text="", box=COMIC_FOLIO, polygon=box_polygon(COMIC_FOLIO), ignore=True))
        with open(datasets.path("comictagger", f"{folder}/{page.image}"), "rb") as file:
            image = file.read()
        items.append(
            Item(f"page-{os.path.splitext(page.image)[0]}", image, areas, f"{source.spec} {folder}/{page.image}")
        )
    return items


def annotated_items(name: str) -> list[Item]:
    """Images named by (source, path) in evaluation/annotations/NAME.json, with their hand annotations."""
    with open(os.path.join(ANNOTATIONS, f"{name}.json")) as file:
        annotations = json.load(file)
    items = []
    for image in annotations["images"]:
        areas = []
        for entry in image["areas"]:
            box = tuple(float(value) for value in entry["box"])
            areas.append(
                Area(
                    text=entry.get("text", ""),
                    box=box,
                    polygon=box_polygon(box),
                    container=_container(entry.get("container")),
                    kind=entry.get("kind", "text"),
                    translate=entry.get("translate", True),
                    ignore=entry.get("ignore", False),
                )
            )
        with open(datasets.path(image["source"], image["path"]), "rb") as file:
            data = file.read()
        items.append(Item(image["id"], data, areas, f"{datasets.SOURCES[image['source']].spec} {image['path']}"))
    return items


SETS = {
    spec.name: spec
    for spec in (
        SetSpec("signs", "Generated signs", lambda full: generated_items(FULL_SIGN_COUNT if full else SIGN_COUNT), []),
        SetSpec(
            "comics",
            "Comic pages",
            lambda full: comic_items(FULL_COMIC_PAGES if full else COMIC_PAGES),
            ["comictagger"],
        ),
        SetSpec("photos", "Photos", lambda full: annotated_items("photos"), ["opencv-doc", "scikit-image"]),
    )
}


# Reading the output with Tesseract -------------------------------------------------------------------


def tesseract_text(image: bytes, lang: str) -> str:
    """The text Tesseract reads anywhere in an encoded image (sparse text mode, one thread)."""
    result = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", TESSERACT_LANGS.get(lang, lang), "--psm", "11"],
        input=image,
        capture_output=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"tesseract failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace")


def tesseract_blocks(pixels: np.ndarray, boxes: list[tuple[float, float, float, float]], lang: str) -> list[str]:
    """The text Tesseract reads in each box of an RGB image (a block of lines: psm 6, the box padded a little).
    On a whole photo Tesseract's layout analysis often finds nothing of a clearly drawn block ("Centro de
    copia", 70 pixels high, read in its crop and not on the page)."""
    from transmodal.ocr.tesseract import TesseractEngine

    return TesseractEngine().read_blocks(pixels, list(boxes), lang)


def _decode(data: bytes) -> np.ndarray:
    from transmodal.media import decode_image

    return decode_image(data)


def _identical_inside(before: np.ndarray, after: np.ndarray, polygon: list[list[float]]) -> bool:
    from PIL import Image, ImageDraw

    if before.shape != after.shape:
        return False
    height, width = before.shape[:2]
    mask = Image.new("1", (width, height), 0)
    ImageDraw.Draw(mask).polygon([tuple(point) for point in polygon], fill=1)
    inside = np.asarray(mask)
    return bool(np.array_equal(before[inside], after[inside]))


# Scoring one image ----------------------------------------------------------------------------------


def readability(item: Item, regions, image: bytes, after: np.ndarray) -> dict:
    """Source words left over and the system's own translation words drawn, in the output `image`
    (encoded; `after`: its pixels). `regions`: the output's regions (text, translation, box, drawn_box)."""
    scored = [index for index, area in enumerate(item.areas) if not area.ignore]
    # Read on the whole image and block by block (the annotated areas for what is left of the source, the
    # blocks as drawn for the translation): a block Tesseract misses on the page is no more readable for
    # that, and one it reads only in its crop is readable to a person.
    translation_words = [
        word
        for region in regions
        if "untouched" not in region.flags  # left as it was, not drawn: the pixel-identical row judges it
        for word in words(region.translation, READABLE_MIN_LENGTH)
    ]
    kept = {word for region in regions for word in words(region.translation, READABLE_MIN_LENGTH)}
    kept |= {word for area in item.areas if not area.translate for word in words(area.text)}
    source_words = [
        word
        for index in scored
        if item.areas[index].translate
        for word in words(item.areas[index].text, LEFTOVER_MIN_LENGTH)
        if word not in kept
    ]
    areas_to_translate = [item.areas[index].box for index in scored if item.areas[index].translate]
    source_readings = [
        tesseract_text(image, SOURCE_LANG),
        " ".join(tesseract_blocks(after, areas_to_translate, SOURCE_LANG)),
    ]
    source_left, source_total = substring_hits(source_words, source_readings, exclude=kept)
    drawn_boxes = [
        tuple(float(v) for v in (region.drawn_box if len(region.drawn_box) == 4 else region.box))
        for region in regions
        if region.translation and region.translation.strip() and "untouched" not in region.flags
    ]
    by_block = [
        word for text in tesseract_blocks(after, drawn_boxes, TARGET_LANG) for word in words(text, READABLE_MIN_LENGTH)
    ]
    on_page = words(tesseract_text(image, TARGET_LANG), READABLE_MIN_LENGTH)
    translation_read, translation_total = bag_hits_any(translation_words, [on_page, by_block])
    return {
        "source_left": source_left,
        "source_words": source_total,
        "translation_read": translation_read,
        "translation_words": translation_total,
    }


def score(item: Item, doc, seconds: float) -> dict:
    """The counts of one image: sums of these over a set give its table."""
    counts = {
        "id": item.id,
        "seconds": seconds,
        "failed": bool(doc is None or doc.failed),
        "error": None if doc is None else doc.error,
    }
    scored = [index for index, area in enumerate(item.areas) if not area.ignore]
    counts["areas"] = len(scored)
    reference_words = [word for index in scored for word in words(item.areas[index].text)]
    if counts["failed"]:  # nothing found, every character missed; no output to read
        characters = sum(len(normalize(item.areas[index].text)) for index in scored)
        counts.update(
            found_areas=0,
            detections=0,
            false_detections=0,
            words_read=0,
            words=len(reference_words),
            char_edits=characters,
            chars=characters,
        )
        return counts

    regions = [region for region in doc.regions if len(region.polygon) >= 3]
    detected = [tuple(float(v) for v in region.box) for region in regions]
    matches = match(detected, [area.box for area in item.areas])
    matched_areas = {index for found in matches for index in found}
    counts["found_areas"] = sum(1 for index in scored if index in matched_areas)
    counts["detections"] = len(regions)
    counts["false_detections"] = sum(1 for found in matches if not found)

    # OCR: the annotated words among the words of all detected regions, wherever they are.
    counts["words_read"], counts["words"] = bag_hits(reference_words, [w for r in regions for w in words(r.text)])
    # CER per group of areas and the regions reading them (a region spanning two areas is compared with
    # both texts), each side in reading order; ignored areas and the regions reading them are left out.
    counts["char_edits"] = counts["chars"] = 0
    for areas, readers in groups(matches, len(item.areas)):
        areas = sorted((a for a in areas if not item.areas[a].ignore), key=lambda a: item.areas[a].box[1::-1])
        if not areas:
            continue
        readers = sorted(readers, key=lambda i: (detected[i][1], detected[i][0]))
        edits, length = char_errors(
            "\n".join(item.areas[a].text for a in areas), " ".join(regions[i].text for i in readers)
        )
        counts["char_edits"] += edits
        counts["chars"] += length

    before, after = _decode(item.image), _decode(doc.image)
    counts.update(readability(item, regions, doc.image, after))

    # Layout of the rendered blocks.
    height, width = after.shape[:2]
    # Untouched blocks (a number, a code, a name: their translation repeats them) are not drawn at all.
    drawn = [
        (i, region)
        for i, region in enumerate(regions)
        if region.translation and region.translation.strip() and "untouched" not in region.flags
    ]
    boxes = []
    counts["fallback_boxes"] = 0
    for _, region in drawn:
        if len(region.drawn_box) == 4:
            boxes.append(tuple(float(v) for v in region.drawn_box))
        else:
            boxes.append(tuple(float(v) for v in region.box))
            counts["fallback_boxes"] += 1
    counts["drawn"] = len(drawn)
    counts["overlapping"] = sum(overlapping(boxes))
    counts["outside_container"] = 0
    for (index, _), box in zip(drawn, boxes):
        areas = [a for a in matches[index] if not item.areas[a].ignore]
        best = max(areas, key=lambda a: coverage(detected[index], item.areas[a].box), default=None)
        container = item.areas[best].container if best is not None else None
        container = container or box_polygon((0, 0, width, height))
        if outside_share(box, container) > CONTAINER_TOLERANCE:
            counts["outside_container"] += 1

    untouched = [index for index in scored if not item.areas[index].translate]
    counts["untouched"] = len(untouched)
    counts["untouched_identical"] = sum(_identical_inside(before, after, item.areas[i].polygon) for i in untouched)
    return counts


# Tables ----------------------------------------------------------------------------------------------


def summarize(rows: list[dict]) -> dict:
    def total(key: str) -> int:
        return sum(row.get(key, 0) or 0 for row in rows)

    seconds = [row["seconds"] for row in rows]
    return {
        "images": len(rows),
        "failed": sum(row["failed"] for row in rows),
        "areas": total("areas"),
        "area_recall": ratio(total("found_areas"), total("areas")),
        "found_areas": total("found_areas"),
        "detections": total("detections"),
        "false_detections": total("false_detections"),
        "word_accuracy": ratio(total("words_read"), total("words")),
        "words_read": total("words_read"),
        "words": total("words"),
        "cer": ratio(total("char_edits"), total("chars")),
        "source_left": ratio(total("source_left"), total("source_words")),
        "source_left_words": total("source_left"),
        "source_words": total("source_words"),
        "translation_readable": ratio(total("translation_read"), total("translation_words")),
        "translation_read": total("translation_read"),
        "translation_words": total("translation_words"),
        "drawn": total("drawn"),
        "overlapping": total("overlapping"),
        "outside_container": total("outside_container"),
        "fallback_boxes": total("fallback_boxes"),
        "untouched": total("untouched"),
        "untouched_identical": total("untouched_identical"),
        "seconds_median": statistics.median(seconds) if seconds else None,
        "seconds_mean": statistics.fmean(seconds) if seconds else None,
    }


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def table(title: str, summary: dict) -> str:
    s = summary
    per_image = s["false_detections"] / s["images"] if s["images"] else 0
    fallback = ""
    if s["fallback_boxes"]:
        fallback = " ¹"
    rows = [
        (
            "images (annotated text areas)",
            f"{s['images']} ({s['areas']} areas)" + (f", {s['failed']} FAILED" if s["failed"] else ""),
        ),
        ("text-area recall", f"{_percent(s['area_recall'])} ({s['found_areas']}/{s['areas']})"),
        (
            "false detections (regions matching no annotated area)",
            f"{s['false_detections']} of {s['detections']} regions ({per_image:.1f} per image)",
        ),
        ("OCR word accuracy (bag-of-words recall)", f"{_percent(s['word_accuracy'])} ({s['words_read']}/{s['words']})"),
        ("OCR character error rate (CER)", _percent(s["cer"])),
        (
            "source words still readable in the output ↓",
            f"{_percent(s['source_left'])} ({s['source_left_words']}/{s['source_words']})",
        ),
        (
            "own translation words readable in the output ↑",
            f"{_percent(s['translation_readable'])} ({s['translation_read']}/{s['translation_words']})",
        ),
        ("rendered blocks overlapping another ↓" + fallback, f"{s['overlapping']} of {s['drawn']}"),
        ("rendered blocks leaving their container ↓" + fallback, f"{s['outside_container']} of {s['drawn']}"),
        ("no-translation blocks left pixel-identical ↑", f"{s['untouched_identical']} of {s['untouched']}"),
        (
            "seconds per page, one at a time (median / mean)",
            "n/a" if s["seconds_median"] is None else f"{s['seconds_median']:.2f} / {s['seconds_mean']:.2f}",
        ),
        (
            "seconds per page, the set streamed (stages overlapping, as for a book)",
            "n/a" if s.get("streamed_seconds") is None else f"{s['streamed_seconds']:.2f}",
        ),
    ]
    lines = [f"### {title}", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if s["fallback_boxes"]:
        lines += [
            "",
            f"¹ `drawn_box` was empty for {s['fallback_boxes']} of {s['drawn']} rendered blocks: their "
            "region's polygon box stands in for where the renderer drew.",
        ]
    return "\n".join(lines)


# Running -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stdout_to_stderr():
    """Jina's banners and logs (its executor processes' too) go to stderr, so stdout is only the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(
    set_names: list[str],
    limit: int | None,
    flow_path: str,
    out_dir: str | None = None,
    progress: bool = True,
    full: bool = False,
) -> dict[str, dict]:
    from transmodal.client import TransmodalClient
    from transmodal.docs import MediaDoc
    from transmodal.flows import local_flow

    absent = sorted({source for name in set_names for source in datasets.missing(*SETS[name].sources)})
    if absent:
        raise SystemExit(
            f"evaluation data missing ({', '.join(absent)} under {datasets.data_dir()}): run `make eval-data` first"
        )
    items = {name: SETS[name].load(full)[:limit] for name in set_names}
    parameters = {"source_lang": SOURCE_LANG, "target_lang": TARGET_LANG}
    results: dict[str, dict] = {}
    flow, host = local_flow(flow_path)
    with flow:
        client = TransmodalClient(host)
        client.process([MediaDoc(image=generated_items(1, seed=99)[0].image)], parameters=parameters)  # warm-up
        for name in set_names:
            rows = []
            for number, item in enumerate(items[name], start=1):
                returned = []
                started = time.perf_counter()
                client.process(
                    [MediaDoc(image=item.image, name=item.id)], parameters=parameters, on_result=returned.append
                )
                seconds = time.perf_counter() - started
                doc = returned[0] if returned else None
                row = score(item, doc, seconds)
                row["source"] = item.source
                row["regions"] = (
                    []
                    if doc is None
                    else [
                        {
                            "text": r.text,
                            "translation": r.translation,
                            "box": list(r.box) if len(r.polygon) >= 3 else [],
                            "drawn_box": list(r.drawn_box),
                            "kind": r.kind,
                            "flags": list(r.flags),
                        }
                        for r in doc.regions
                    ]
                )
                rows.append(row)
                if out_dir and doc is not None and doc.image is not None:
                    os.makedirs(os.path.join(out_dir, name), exist_ok=True)
                    with open(os.path.join(out_dir, name, f"{item.id}.png"), "wb") as file:
                        file.write(bytes(doc.image))
                if progress:
                    print(
                        f"  {name} {number}/{len(items[name])} {item.id}: {seconds:.1f} s"
                        + (f" FAILED {row['error']}" if row["failed"] else ""),
                        file=sys.stderr,
                        flush=True,
                    )
            summary = summarize(rows)
            # A book: the whole set streamed through the Flow at once, so that the stages overlap (the
            # detector reads one page while the renderer draws the one before) — pages per second of work.
            summary["streamed_seconds"] = None
            if len(items[name]) > 1:
                pages = (MediaDoc(image=item.image, name=item.id) for item in items[name])
                streamed = client.process(pages, parameters=parameters)
                if streamed.ok:
                    summary["streamed_seconds"] = streamed.seconds / len(items[name])
            results[name] = {"title": SETS[name].title, "summary": summary, "images": rows}
    return results


def report(results: dict[str, dict], flow_path: str, seconds: float | None = None, load: float | None = None) -> str:
    header = (
        f"Image translation, {SOURCE_LANG} → {TARGET_LANG}, flow `{os.path.relpath(flow_path)}`, "
        f"{os.cpu_count()} CPU cores, {datetime.date.today().isoformat()}"
    )
    if seconds is not None:
        images = sum(result["summary"]["images"] for result in results.values())
        header += f"; {images} images in {seconds / 60:.1f} min, the Flow's start included"
    if load is not None:
        header += f" (load average {load:.1f} when it began: times grow with other work on the machine)"
    header += "."
    return "\n\n".join([header] + [table(result["title"], result["summary"]) for result in results.values()])


def main(argv: list[str] | None = None) -> int:
    from transmodal.cli import default_flow

    parser = argparse.ArgumentParser(prog="transmodal eval image-translation", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set", action="append", choices=list(SETS), dest="sets", help="a set to run (repeatable; default: all)"
    )
    parser.add_argument("--limit", type=int, help="at most N images per set")
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"every comic page and {FULL_SIGN_COUNT} signs (default: every other story page, {SIGN_COUNT} signs)",
    )
    parser.add_argument("--json", metavar="FILE", help="also save the numbers (and per-image counts) as JSON")
    parser.add_argument(
        "--regions",
        action="store_true",
        help="with --json: also each image's regions (text, translation, boxes); the comic's text "
        "is CC BY-NC-SA, so keep such files out of the repository",
    )
    parser.add_argument("--out", metavar="DIR", help="also save every translated image under DIR/SET/")
    parser.add_argument("--flow", help="the Flow YAML (default: flow.yml)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no per-image progress on stderr")
    args = parser.parse_args(argv)
    flow_path = args.flow or default_flow()
    set_names = args.sets or list(SETS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    with _stdout_to_stderr():
        results = run(set_names, args.limit, flow_path, args.out, progress=not args.quiet, full=args.full)
    seconds = time.perf_counter() - started
    print(report(results, flow_path, seconds, load))
    if args.json:
        if not args.regions:
            for result in results.values():
                for row in result["images"]:
                    row.pop("regions", None)
        with open(args.json, "w") as file:
            json.dump(
                {
                    "flow": flow_path,
                    "source_lang": SOURCE_LANG,
                    "target_lang": TARGET_LANG,
                    "date": datetime.date.today().isoformat(),
                    "seconds": seconds,
                    "load_average": load,
                    "sets": results,
                },
                file,
                indent=1,
                default=float,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
