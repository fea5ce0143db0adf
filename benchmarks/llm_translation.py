"""LLM page translation against Apertium on real comic pages (the ACBF text of Anda's Game, English).

    .venv/bin/python benchmarks/llm_translation.py --book DIR_OR_ACBF [--pages 1,2,3] [--model gemma3-270m]

Each page's text areas (ACBF, in document order, with their kind) go through the TextTranslator executor
twice: `backend: apertium`, and `backend: llm` with a GGUF model in-process (llama-cpp-python), the pages
of the book as one job so context carries over. Prints seconds per page and, per backend: the share of
blocks the model answered itself (not by fallback), the share that reads as Spanish (at least 80% of its
words known to Apertium's Spanish analyser and not a copy of the source), the glossary names kept, and a
few sample blocks. The book is CC BY-NC-SA: it is read where it lies, never copied into the repository.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from docarray import DocList  # noqa: E402

from executors.text_translator.backends import ApertiumTranslator  # noqa: E402
from executors.text_translator.executor import GLOSSARY_MISSED, LLM_FALLBACK, TextTranslator  # noqa: E402
from transmodal import acbf  # noqa: E402
from transmodal.docs import MediaDoc, TextRegion  # noqa: E402

GLOSSARY = {"Anda": "keep", "Lucy": "keep", "Sarge": "keep"}  # the story's names stay as they are


def pages_of(book_path: Path, numbers: list[int]) -> list[MediaDoc]:
    acbf_file = book_path if book_path.is_file() else next(book_path.glob("*.acbf"))
    book = acbf.parse(acbf_file.read_bytes())
    docs = []
    for number in numbers:
        areas = book.pages[number - 1].layers["en"]
        regions = [TextRegion(text=area.text.replace("\n", " "), kind=area.kind) for area in areas]
        docs.append(MediaDoc(name=f"page {number}", regions=DocList[TextRegion](regions), source_lang="en"))
    return docs


def spanish_share(texts: list[str], checker: ApertiumTranslator) -> list[float]:
    """For each text, the share of its words Apertium's Spanish analyser knows (it marks unknown ones with *)."""
    # Lower case: the analyser passes some words in capitals through without marking them.
    outputs = checker.translate([text.lower() for text in texts], "es", "en")
    shares = []
    for output in outputs:
        tokens = [token for token in output.split() if any(char.isalpha() for char in token)]
        shares.append(sum("*" not in token for token in tokens) / len(tokens) if tokens else 0.0)
    return shares


def report(name: str, docs: list[MediaDoc], seconds: list[float], checker: ApertiumTranslator) -> None:
    regions = [region for doc in docs for region in doc.regions]
    translations = [region.translation or "" for region in regions]
    shares = spanish_share(translations, checker)
    spanish = sum(share >= 0.8 and region.translation != region.text for share, region in zip(shares, regions))
    by_model = sum(LLM_FALLBACK not in region.flags for region in regions)
    names = [region for region in regions if any(name.lower() in region.text.lower() for name in GLOSSARY)]
    names_kept = sum(GLOSSARY_MISSED not in region.flags for region in names)
    print(f"\n== {name}: {', '.join(f'{s:.1f}' for s in seconds)} s per page ({sum(seconds) / len(seconds):.1f} mean)")
    print(f"blocks: {len(regions)}; answered by the backend itself: {by_model}; read as Spanish: {spanish}")
    print(f"blocks with a glossary name: {len(names)}; name kept: {names_kept}")
    for doc in docs:
        print("  trace:", [entry for entry in doc.trace if "/llm:" in entry] or "-", "flags:", doc.flags or "-")
    model_answered = [region for region in regions if LLM_FALLBACK not in region.flags]
    if len(model_answered) < len(regions):  # the model's own answers are what this measures
        model_spanish = sum(
            share >= 0.8 and region.translation != region.text
            for share, region in zip(shares, regions)
            if LLM_FALLBACK not in region.flags
        )
        print(f"of the {len(model_answered)} blocks the model answered: {model_spanish} read as Spanish")
    for region in (model_answered or regions)[:8]:
        print(
            f"  {region.text[:70]!r}\n    -> {region.translation[:90] if region.translation else None!r} {region.flags}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, required=True, help="the .acbf file or the folder holding it")
    parser.add_argument("--pages", default="1,2,3")
    parser.add_argument("--model", default="gemma3-270m", help="stored model name or GGUF path")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 beats 2 on a busy 2-core machine)")
    args = parser.parse_args()
    numbers = [int(number) for number in args.pages.split(",")]
    checker = ApertiumTranslator(mark_unknown=True)

    apertium = TextTranslator(backend="apertium", target_lang="es")
    docs, seconds = pages_of(args.book, numbers), []
    for doc in docs:
        started = time.perf_counter()
        apertium.translate(DocList[MediaDoc]([doc]), parameters={"glossary": GLOSSARY})
        seconds.append(time.perf_counter() - started)
    report("apertium", docs, seconds, checker)

    started = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    llm = TextTranslator(
        backend="llm", target_lang="es", backend_options={"model_file": args.model, "threads": args.threads}
    )
    print(f"\nmodel {args.model} loaded in {time.perf_counter() - started:.1f} s")
    docs, seconds = pages_of(args.book, numbers), []
    for doc in docs:
        started = time.perf_counter()
        llm.translate(DocList[MediaDoc]([doc]), parameters={"glossary": GLOSSARY, "job": "book"})
        seconds.append(time.perf_counter() - started)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) // 1024
    report(f"llm {args.model}", docs, seconds, checker)
    print(f"peak memory growth while loading and translating: {peak} MB")
    context = llm.job_contexts["book"]
    print(f"context after {context.pages} pages: summary {context.summary[:200]!r}; terms {context.terms}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
