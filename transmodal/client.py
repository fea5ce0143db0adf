"""Python API over Jina's gRPC client: stream documents through a Flow, results handled as they arrive.

    from transmodal.client import TransmodalClient
    client = TransmodalClient("grpc://localhost:51000")
    report = client.process(docs, parameters={"target_lang": "es"}, on_result=save)

Every document sent is accounted for: it comes back (possibly carrying its own `error`), or, when a whole
request failed in the Flow or never came back, it is reported failed with the reason. Nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Iterable, Iterator

from docarray import DocList

from transmodal.docs import MediaDoc


@dataclasses.dataclass
class Failure:
    name: str
    stage: str | None
    error: str


@dataclasses.dataclass
class Report:
    sent: int = 0
    succeeded: int = 0
    failures: list[Failure] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and self.succeeded == self.sent


class TransmodalClient:
    def __init__(self, host: str = "grpc://127.0.0.1:51000"):
        from jina import Client

        self.host = host
        self._client = Client(host=host)

    def process(
        self,
        docs: Iterable[MediaDoc],
        parameters: dict | None = None,
        request_size: int = 1,
        on_result: Callable[[MediaDoc], None] | None = None,
        progress: bool = False,
        total: int | None = None,
        endpoint: str = "/",
    ) -> Report:
        """Send `docs` in requests of `request_size`; call `on_result` for each document that comes back."""
        from tqdm import tqdm

        report = Report()
        pending: dict[str, str] = {}  # id -> name of the documents sent and not yet back
        bar = tqdm(total=total, unit="doc", disable=not progress, desc="transmodal")

        def sent(stream: Iterable[MediaDoc]) -> Iterator[MediaDoc]:
            for doc in stream:
                pending[doc.id] = doc.name or doc.id
                report.sent += 1
                yield doc

        def on_done(response) -> None:
            response.document_array_cls = DocList[MediaDoc]
            for doc in response.docs:
                name = pending.pop(doc.id, doc.name or doc.id)
                if doc.failed:
                    report.failures.append(Failure(name, doc.error_stage, doc.error))
                else:
                    report.succeeded += 1
                if on_result is not None:
                    on_result(doc)
                bar.update(1)

        def on_error(response) -> None:
            # A whole request failed inside the Flow (an executor raised): fail its documents by name.
            description = response.header.status.description or "request failed in the Flow"
            response.document_array_cls = DocList[MediaDoc]
            for doc in response.docs:
                if doc.id in pending:
                    report.failures.append(Failure(pending.pop(doc.id), None, description))
                    bar.update(1)

        started = time.perf_counter()
        try:
            self._client.post(
                endpoint,
                inputs=sent(docs),
                parameters=parameters or {},
                request_size=request_size,
                on_done=on_done,
                on_error=on_error,
                return_type=DocList[MediaDoc],
            )
        except ConnectionError as error:
            raise ConnectionError(f"cannot reach a transmodal Flow at {self.host}: {error}") from error
        finally:
            bar.close()
            report.seconds = time.perf_counter() - started
        for name in pending.values():
            report.failures.append(Failure(name, None, "no response from the Flow"))
        return report
