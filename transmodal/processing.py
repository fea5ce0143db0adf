"""Per-document error handling shared by every executor.

A failure caused by one document's content is written to that document (`error`, `error_stage`) and the
rest of the request goes on. Documents that already failed upstream pass through untouched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

from transmodal.docs import MediaDoc
from transmodal.errors import TransmodalError
from transmodal.validation import InvalidRequestError, check_parameters

logger = logging.getLogger("transmodal")


def mark_failed(doc: MediaDoc, stage: str, error: BaseException) -> None:
    if isinstance(error, TransmodalError):
        doc.error = str(error)
    else:  # a bug or an engine failure: say what happened in the user's terms, keep the type for maintainers
        doc.error = user_message(stage, error, doc)
        logger.exception("%s failed on document %s", stage, doc.id, exc_info=error)
    doc.error_stage = stage


def user_message(stage: str, error: BaseException, doc: MediaDoc | None = None) -> str:
    """A message for an exception that is not a TransmodalError: the stage, what went wrong in the user's
    terms, what to do, and the original exception (type and message) for whoever reports it."""
    kind = type(error).__name__
    detail = str(error).strip() or "no message"
    original = f"({kind}: {detail})"
    size = _image_size(doc)
    shape = f" {size[0]}x{size[1]}" if size else ""
    if kind == "ResizeImgError" or (size and min(size) < 8 and kind in ("error", "ValueError", "ZeroDivisionError")):
        return (
            f"{stage} could not read the{shape} image: it is too thin or too small to hold readable text "
            f"(the detector scales it to nothing). Use an image at least 16 pixels wide and high, or crop "
            f"it around the text {original}"
        )
    if isinstance(error, MemoryError):
        return (
            f"{stage} ran out of memory on the{shape} image: downscale it, or give the executor more memory {original}"
        )
    if kind == "error" and type(error).__module__.startswith("cv2"):
        return (
            f"{stage}: image processing (OpenCV) failed on the{shape} image; it may be corrupt or unusual "
            f"(check it opens in an image viewer, or re-save it as PNG) {original}"
        )
    if kind in ("TesseractError", "TesseractNotFoundError"):
        return (
            f"{stage}: Tesseract failed: check the language data for this language is installed "
            f"(tesseract --list-langs) {original}"
        )
    if isinstance(error, (TimeoutError,)) or kind == "TimeoutExpired":
        return f"{stage}: the engine took too long on this document; retry, or send a smaller input {original}"
    if isinstance(error, (AttributeError, TypeError)) and re.search(r"'(list|dict|int|float|bool|NoneType)'", detail):
        return (
            f"{stage} failed: a value had the wrong type. If the request carried parameters, check their "
            f"types (a language code is a string such as 'en'; a glossary maps strings to strings); "
            f"otherwise this is a bug in {stage}: report it with the input {original}"
        )
    return (
        f"{stage} failed on this document with an internal error; this is a bug in {stage}, not a problem "
        f"with your input: report it with the input file (other documents are not affected) {original}"
    )


def _image_size(doc: MediaDoc | None) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding; None when there is no readable image."""
    if doc is None or not doc.image:
        return None
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(bytes(doc.image))) as image:
            return image.size
    except Exception:
        return None


def fail_invalid_request(docs: Iterable[MediaDoc], stage: str, parameters: object) -> bool:
    """Check a request's parameters in the executor as transmodal's client checks them before sending
    (transmodal.validation): not every caller is that client (plain HTTP, another gRPC client). When they
    cannot be used, every live document fails with the reason and True is returned: the endpoint then
    does nothing more."""
    try:
        check_parameters(parameters)
    except InvalidRequestError as error:
        for doc in live_docs(docs):
            doc.error = f"{stage}: the request's parameters cannot be used: {error}"
            doc.error_stage = stage
        return True
    return False


def traced(docs, executor):
    """Record on every document which executor replica handled it (shows the path through replicas)."""
    replica = getattr(getattr(executor, "runtime_args", None), "name", None) or executor.metas.name
    for doc in docs:
        doc.trace.append(replica)
    return docs


def live_docs(docs: Iterable[MediaDoc]) -> list[MediaDoc]:
    """The documents no earlier stage has failed."""
    return [doc for doc in docs if not doc.failed]


def for_each_doc(docs: Iterable[MediaDoc], stage: str, process: Callable[[MediaDoc], None]) -> None:
    """Run `process` on every live document; an exception fails only that document."""
    for doc in live_docs(docs):
        try:
            process(doc)
        except Exception as error:
            mark_failed(doc, stage, error)


def for_batch(docs: Iterable[MediaDoc], stage: str, process: Callable[[Sequence[MediaDoc]], None]) -> None:
    """Run `process` once on all live documents; if it fails, retry one by one to isolate the culprit."""
    batch = live_docs(docs)
    if not batch:
        return
    try:
        process(batch)
        return
    except Exception as error:
        if len(batch) == 1:
            mark_failed(batch[0], stage, error)
            return
    for doc in batch:
        try:
            process([doc])
        except Exception as error:
            mark_failed(doc, stage, error)
