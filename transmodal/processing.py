"""Per-document error handling shared by every executor.

A failure caused by one document's content is written to that document (`error`, `error_stage`) and the
rest of the request goes on. Documents that already failed upstream pass through untouched.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Sequence

from transmodal.docs import MediaDoc
from transmodal.errors import TransmodalError

logger = logging.getLogger("transmodal")


def mark_failed(doc: MediaDoc, stage: str, error: BaseException) -> None:
    if isinstance(error, TransmodalError):
        doc.error = str(error)
    else:  # a bug or an engine failure: keep the type, it is what a maintainer needs
        doc.error = f"{type(error).__name__}: {error}"
        logger.exception("%s failed on document %s", stage, doc.id, exc_info=error)
    doc.error_stage = stage


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
