"""Multi-page jobs of the web app: a book (CBZ/ZIP/PDF) or several images, translated page by page in a thread.

Every job is a book to `transmodal.books.translate_book` (uploaded images are a folder book), so the web
page gets what `transmodal translate-book` does: reading order, pages written back in their own format,
ACBF text layers, a failed page kept in its original language. The job adds what a browser needs: one
event per finished page (`events`, streamed as server-sent events), each page's original and translation
as files, its regions as JSON, and re-rendering one page with translations fixed by hand (`render_page`).

A job's files live in its own folder under the app's jobs folder: input/, pages/N.original, pages/N.png,
pages/N.json, the book, and the book's state folder (translate_book's resumability).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from transmodal import books
from transmodal.client import GatewayUnreachableError, TransmodalClient
from transmodal.docs import MediaDoc, TextRegion
from transmodal.files import unique_name
from transmodal.validation import InvalidRequestError

MAX_JOBS = int(os.environ.get("TRANSMODAL_WEB_MAX_JOBS", 20))  # kept on disk; the oldest finished go first


def region_json(region: TextRegion) -> dict:
    """What a person (or the page's editor) needs of a region: text, translation, where, what to check."""
    return {
        "text": region.text,
        "translation": region.translation,
        "box": list(region.box) if region.polygon else None,
        "polygon": region.polygon,
        "container": region.container,
        "kind": region.kind,
        "confidence": region.confidence,
        "drawn_box": region.drawn_box,
        "flags": region.flags,
    }


def document_json(doc: MediaDoc) -> dict:
    """The document's results without its media (those go as files, or base64 beside this)."""
    return {
        "name": doc.name,
        "error": doc.error,
        "stage": doc.error_stage,
        "source_lang": doc.source_lang,
        "target_lang": doc.target_lang,
        "text": doc.text,
        "translation": doc.translation,
        "phones": doc.phones,
        "flags": doc.flags,
        "regions": [region_json(region) for region in doc.regions],
        "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in doc.segments],
        "trace": doc.trace,
    }


def safe_upload_name(name: str) -> str:
    """An uploaded file's name as a plain file name: no folders, no control characters."""
    base = os.path.basename(name.replace("\\", "/")) or "upload"
    base = re.sub(r"[\x00-\x1f/]", "_", base).strip(". ") or "upload"
    return base[:200]


class Job:
    """One upload's pages on their way through the Flow; its state is read by the request handlers."""

    def __init__(
        self, folder: str, uploads: list[tuple[str, bytes]], parameters: dict, limits: books.Limits | None = None
    ):
        self.id = os.path.basename(folder)
        self.folder = folder
        self.parameters = parameters
        self.created = time.time()
        self.events: list[dict] = []
        self.finished = False
        self.lock = threading.Lock()
        self.render_lock = threading.Lock()
        os.makedirs(os.path.join(folder, "pages"))
        target = parameters.get("target_lang") or "translated"
        if len(uploads) == 1 and uploads[0][0].lower().endswith(books.BOOK_EXTENSIONS):
            name = safe_upload_name(uploads[0][0])
            self.book_path = os.path.join(folder, "input-" + name)
            with open(self.book_path, "wb") as file:
                file.write(uploads[0][1])
            stem, extension = os.path.splitext(name)
            self.out_name = f"{stem}.{target}{'.pdf' if extension.lower() == '.pdf' else '.cbz'}"
        else:
            if any(name.lower().endswith(books.BOOK_EXTENSIONS) for name, _ in uploads):
                raise books.BookError("send one book (.cbz, .zip, .pdf) alone, or images only")
            self.book_path = os.path.join(folder, "input")
            os.makedirs(self.book_path)
            seen: dict[str, int] = {}
            taken: set[str] = set()
            for name, data in uploads:
                page_name = unique_name(safe_upload_name(name), seen)
                while page_name in taken:  # "a.png" twice, then "a-2.png": never write over an upload
                    page_name = unique_name(page_name, seen)
                taken.add(page_name)
                with open(os.path.join(self.book_path, page_name), "wb") as file:
                    file.write(data)
            self.out_name = f"pages.{target}.cbz"
        self.out_path = os.path.join(folder, self.out_name)
        self.limits = limits or books.Limits()
        with books.open_book(self.book_path, self.limits) as book:  # BookError for a bad book, before any work
            self.pages = list(book.pages)
        if not self.pages:
            raise books.BookError("no page images found (PNG, JPEG, WebP, GIF, BMP, TIFF)")

    # Files ------------------------------------------------------------------------------------------------

    def page_path(self, index: int, suffix: str) -> str:
        return os.path.join(self.folder, "pages", f"{index}{suffix}")

    def page_result(self, index: int) -> dict | None:
        try:
            with open(self.page_path(index, ".json"), encoding="utf-8") as file:
                return json.load(file)
        except FileNotFoundError:
            return None

    def _write(self, path: str, data: bytes) -> None:
        with open(path + ".part", "wb") as file:
            file.write(data)
        os.replace(path + ".part", path)

    def _keep_result(self, doc: MediaDoc) -> None:
        index = self.pages.index(doc.name or "")
        if not doc.failed and doc.image is not None:
            self._write(self.page_path(index, ".png"), bytes(doc.image))
        self._write(self.page_path(index, ".json"), json.dumps(document_json(doc), ensure_ascii=False).encode())

    def _event(self, kind: str, data: dict) -> None:
        with self.lock:
            self.events.append({"event": kind, "id": len(self.events), **data})

    # Running ----------------------------------------------------------------------------------------------

    def run(self, client: TransmodalClient) -> None:
        """Translate the book (in the calling thread); every outcome ends as a "done" or "error" event."""

        def translate(docs: Iterator[MediaDoc], on_result: Callable[[MediaDoc], None]):
            def keeping_originals() -> Iterator[MediaDoc]:
                for doc in docs:
                    self._write(self.page_path(self.pages.index(doc.name or ""), ".original"), bytes(doc.image or b""))
                    yield doc

            def keeping_results(doc: MediaDoc) -> None:
                self._keep_result(doc)
                on_result(doc)

            return client.process(keeping_originals(), parameters=self.parameters, on_result=keeping_results)

        def on_page(name: str, status: str) -> None:
            index = self.pages.index(name)
            result = self.page_result(index) or {}
            failed = status.startswith("failed: ")
            self._event(
                "page",
                {
                    "index": index,
                    "name": name,
                    "ok": not failed,
                    "status": status,
                    "error": status.removeprefix("failed: ") if failed else None,
                    "regions": len(result.get("regions", [])),
                    "flags": sorted({flag for region in result.get("regions", []) for flag in region["flags"]}),
                },
            )

        try:
            result = books.translate_book(
                self.book_path,
                self.out_path,
                translate,
                source_lang=self.parameters.get("source_lang"),
                target_lang=self.parameters.get("target_lang"),
                limits=self.limits,
                on_page=on_page,
            )
            self._event(
                "done",
                {
                    "pages": result.pages,
                    "written": result.written,
                    "failed": result.failed,
                    "not_sent": result.not_sent,
                    "book": self.out_name if result.written else None,
                },
            )
        except (books.BookError, InvalidRequestError, GatewayUnreachableError) as error:
            self._event("error", {"message": str(error)})
        except Exception as error:  # the job must end with an event whatever happened; the page shows it
            self._event("error", {"message": f"{type(error).__name__}: {error}"})
        finally:
            self.finished = True

    def render_page(self, client: TransmodalClient, index: int, translations: dict[int, str]) -> dict:
        """Re-render one page with some region translations fixed by hand; returns the page's new result.

        The Flow runs every executor on every request, and the TextTranslator sets every region's
        translation, so a document cannot skip to the renderer with edited translations. What does go
        through: the original page with the regions found the first time (the TextDetector keeps regions
        that arrive with their text: no OCR) and a glossary mapping each edited region's text to the
        fixed translation (the translator's glossary replaces whole terms). The rest is translated again,
        as before. A fixed translation is written in capitals where the source was (the glossary's rule)."""
        with self.render_lock:  # one re-render of a job at a time: they write the same book
            return self._render_page(client, index, translations)

    def _render_page(self, client: TransmodalClient, index: int, translations: dict[int, str]) -> dict:
        result = self.page_result(index)
        if result is None or result.get("error"):
            raise KeyError(f"page {index} has no translation to fix")
        with open(self.page_path(index, ".original"), "rb") as file:
            original = file.read()
        regions = []
        glossary = dict(self.parameters.get("glossary") or {})
        for number, region in enumerate(result["regions"]):
            text = region["text"]
            if number in translations:
                text = " ".join(text.split())  # one line: the glossary matches a line at a time
                glossary[text] = translations[number]
            regions.append(
                TextRegion(polygon=region["polygon"], text=text, kind=region["kind"], container=region["container"])
            )
        doc = MediaDoc(image=original, name=self.pages[index], regions=regions)  # type: ignore[arg-type]
        returned: list[MediaDoc] = []
        report = client.process([doc], parameters={**self.parameters, "glossary": glossary}, on_result=returned.append)
        if not returned:
            if not report.failures:
                return {"error": "the request was interrupted before the page came back: retry", "stage": None}
            failure = report.failures[0]
            return {"error": failure.error, "stage": failure.stage}
        if returned[0].failed:
            return document_json(returned[0])
        self._keep_result(returned[0])
        self._rewrite_book(index, original, returned[0])
        return document_json(returned[0])

    def _rewrite_book(self, index: int, original: bytes, doc: MediaDoc) -> None:
        """Put the re-rendered page into translate_book's state and write the book again from it."""
        if not os.path.exists(self.out_path):
            return  # not written yet (the job is running): it will be written from the state
        source, target = self.parameters.get("source_lang"), self.parameters.get("target_lang")
        name = self.pages[index]
        with books.open_book(self.book_path, self.limits) as book:
            key = books.page_key(name, book.content_key(name), source, target)
        state = books.PageState(books.state_folder(self.out_path))
        state.save(key, books.encode_like(original, bytes(doc.image or b"")), books.translated_areas(doc))
        # The book is written again from the state (into a .part file, then renamed: the old one stays until
        # the new one is complete); a page that failed before is not sent again, it keeps its original.
        if os.path.exists(os.path.join(books.state_folder(self.out_path), "written.json")):
            os.remove(os.path.join(books.state_folder(self.out_path), "written.json"))

        def nothing_to_send(docs, on_result):
            for page in docs:
                page.error, page.error_stage = "not sent again: only one page was re-rendered", "web"
                on_result(page)
            return None

        books.translate_book(self.book_path, self.out_path, nothing_to_send, source, target, self.limits)


class TooManyJobsError(RuntimeError):
    """As many jobs are running as the app keeps: the upload is refused (HTTP 503) rather than queued."""


class Jobs:
    """The app's jobs, each in a folder under `root`; at most MAX_JOBS kept (the oldest finished removed)."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()  # uploads are created on the server's worker threads, several at once

    def create(self, uploads: list[tuple[str, bytes]], parameters: dict) -> Job:
        with self.lock:
            self._forget_old()
            if sum(not job.finished for job in self.jobs.values()) >= MAX_JOBS:
                raise TooManyJobsError(f"{MAX_JOBS} jobs are running: retry when one has finished")
        folder = os.path.join(self.root, uuid.uuid4().hex[:16])
        try:
            job = Job(folder, uploads, parameters)
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self.lock:
            self.jobs[job.id] = job
        return job

    def start(self, job: Job, client: TransmodalClient) -> None:
        threading.Thread(target=job.run, args=(client,), name=f"transmodal-job-{job.id}", daemon=True).start()

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def _forget_old(self) -> None:
        finished = sorted((job for job in self.jobs.values() if job.finished), key=lambda job: job.created)
        while len(self.jobs) >= MAX_JOBS and finished:
            job = finished.pop(0)
            del self.jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)
