"""Python API over a Flow's gRPC gateway: stream documents through it, results handled as they arrive.

    from transmodal.client import TransmodalClient
    client = TransmodalClient("grpc://localhost:51000", timeout=60)
    report = client.process(docs, parameters={"target_lang": "es"}, on_result=save)

Every document taken from `docs` is accounted for in the report: it came back (possibly carrying its own
`error`), or it failed by name with the reason, or it was not sent (the run was interrupted, or the gateway
went away). Nothing is dropped, and one bad request never ends the stream:

- parameters are checked before anything is sent (`transmodal.validation`): InvalidRequestError;
- a document that cannot travel (a lone surrogate in a text field, a bad language code) fails alone;
- each request is one gRPC call with its own deadline (`timeout`): a request that misses it fails its
  documents ("no result within 30 s"), the others go on;
- a request the Flow could not complete fails its documents with the executor named: an executor that
  raised, or one that is unreachable ("executor TextEraser is unreachable ..."; `report.unreachable`);
- SIGTERM/SIGINT inside `transmodal.signals.stop_signals()` stop sending, cancel what is in flight and
  return the report (`report.interrupted`).

Requests are sent as unary calls (JinaSingleDataRequestRPC), `concurrency` of them in flight; Jina's own
client streams them in one call, where one deadline or one unreachable executor ends every request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from docarray import DocList

from transmodal.docs import MediaDoc
from transmodal.validation import check_parameters, document_problem, printable_name

_UNREACHABLE = re.compile(r"Communication error with deployment (\S+) at address")


@dataclasses.dataclass
class Failure:
    name: str
    stage: str | None
    error: str


@dataclasses.dataclass
class Report:
    sent: int = 0  # documents taken from the input
    returned: int = 0  # documents the Flow sent back (with a result, or failed by a stage)
    succeeded: int = 0
    failures: list[Failure] = dataclasses.field(default_factory=list)
    not_sent: list[str] = dataclasses.field(default_factory=list)  # taken, never sent (interrupted, gateway gone)
    seconds: float = 0.0
    interrupted: bool = False
    unreachable: set[str] = dataclasses.field(default_factory=set)  # executors found unreachable

    @property
    def lost(self) -> int:
        """Documents neither succeeded, nor failed by name, nor reported not sent: always 0."""
        return self.sent - self.succeeded - len(self.failures) - len(self.not_sent)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_sent and self.succeeded == self.sent


class GatewayUnreachableError(ConnectionError):
    """No Flow answers at the address (as opposed to one executor of a running Flow being down)."""


class TransmodalClient:
    def __init__(self, host: str = "grpc://127.0.0.1:51000", timeout: float | None = None, concurrency: int = 4):
        """`timeout`: seconds each request may take (a gRPC deadline), None for no limit;
        `concurrency`: requests in flight at once."""
        scheme, _, address = host.rpartition("://")
        if scheme not in ("", "grpc", "grpcs"):
            raise ValueError(f"TransmodalClient speaks gRPC: use the Flow's gRPC port (grpc://HOST:PORT), not {host}")
        self.host = host
        self.address = address
        self.tls = scheme == "grpcs"
        self.timeout = timeout
        self.concurrency = max(1, concurrency)

    def process(
        self,
        docs: Iterable[MediaDoc],
        parameters: dict | None = None,
        request_size: int = 1,
        on_result: Callable[[MediaDoc], None] | None = None,
        progress: bool = False,
        total: int | None = None,
        endpoint: str = "/",
        timeout: float | None = None,
    ) -> Report:
        """Send `docs` in requests of `request_size`; call `on_result` for each document that comes back.
        `timeout` overrides the client's per-request deadline. Raises InvalidRequestError (bad parameters,
        nothing sent) or GatewayUnreachableError (no Flow at the address, nothing returned)."""
        parameters = check_parameters(parameters)
        run = _Run(
            self,
            docs,
            parameters,
            max(1, request_size),
            on_result,
            progress,
            total,
            endpoint,
            self.timeout if timeout is None else timeout,
        )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run.main())
        # Called from inside an event loop (a notebook, an async app): run in a thread of its own.
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(_capture(lambda: asyncio.run(run.main()))))
        worker.start()
        worker.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def health(self, timeout: float = 5.0) -> tuple[bool, str]:
        """(ready, why): an empty request through every executor of the Flow (Jina's dry run)."""
        return asyncio.run(self._dry_run(timeout))

    async def _dry_run(self, timeout: float) -> tuple[bool, str]:
        import grpc
        from jina.proto import jina_pb2, jina_pb2_grpc

        async with self._channel() as channel:
            try:
                response = await jina_pb2_grpc.JinaGatewayDryRunRPCStub(channel).dry_run(
                    jina_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), timeout=timeout
                )
            except grpc.aio.AioRpcError as error:
                return False, f"gateway at {self.host} does not answer: {error.code().name} {error.details()}"
        if response.code == jina_pb2.StatusProto.SUCCESS:
            return True, "every executor answered"
        description = response.description or response.exception.name
        match = _UNREACHABLE.search(description)
        if match:
            return False, f"executor {match.group(1)} is unreachable"
        return False, description

    def _channel(self):
        import grpc
        from jina.serve.helper import get_default_grpc_options

        options = get_default_grpc_options()
        if self.tls:
            return grpc.aio.secure_channel(self.address, grpc.ssl_channel_credentials(), options=options)
        return grpc.aio.insecure_channel(self.address, options=options)


def _capture(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except BaseException as error:  # handed to the calling thread
        return error


class _Run:
    """One `process` call: its report, the documents in flight, the requests."""

    def __init__(self, client, docs, parameters, request_size, on_result, progress, total, endpoint, timeout):
        self.client = client
        self.docs = iter(docs)
        self.parameters = parameters
        self.request_size = request_size
        self.on_result = on_result
        self.progress = progress
        self.total = total
        self.endpoint = endpoint
        self.timeout = timeout
        self.report = Report()
        self.in_flight: dict[int, list[MediaDoc]] = {}
        self.gateway_error: str | None = None

    async def main(self) -> Report:
        from tqdm import tqdm

        from transmodal import signals

        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        stop = signals.current()

        def wake() -> None:
            loop.call_soon_threadsafe(stopping.set)

        unhook = stop.on_stop(wake) if stop else (lambda: None)
        self.bar = tqdm(total=self.total, unit="doc", disable=not self.progress, desc="transmodal")
        started = time.perf_counter()
        try:
            async with self.client._channel() as channel:
                from jina.proto import jina_pb2_grpc

                self.stub = jina_pb2_grpc.JinaSingleDataRequestRPCStub(channel)
                sender = asyncio.ensure_future(self._send_all(stopping))
                waiter = asyncio.ensure_future(stopping.wait())
                await asyncio.wait({sender, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not sender.done():  # a stop signal: cancel the requests in flight, report them
                    self.report.interrupted = True
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
                waiter.cancel()
                failure = sender.exception() if sender.done() and not sender.cancelled() else None
                if failure is not None:
                    raise failure
        finally:
            unhook()
            self.bar.close()
            self.report.seconds = time.perf_counter() - started
            why = "interrupted before a result came back" if self.report.interrupted else "no response from the Flow"
            for batch in self.in_flight.values():
                for doc in batch:
                    self.report.failures.append(Failure(_name(doc), None, why))
            self.in_flight.clear()
        if self.gateway_error and self.report.returned == 0:
            raise GatewayUnreachableError(f"cannot reach a transmodal Flow at {self.client.host}: {self.gateway_error}")
        return self.report

    async def _send_all(self, stopping: asyncio.Event) -> None:
        window = asyncio.Semaphore(self.client.concurrency)
        tasks: set[asyncio.Task] = set()
        batch: list[MediaDoc] = []
        try:
            for doc in _guarded(self.docs):
                self.report.sent += 1
                if stopping.is_set() or self.gateway_error:
                    # Not sent; the rest of the input is not even taken (the caller knows what it held).
                    self.report.not_sent.append(_name(doc))
                    break
                if doc.failed:  # failed before it was sent (e.g. its file could not be read)
                    self._fail([doc], doc.error_stage or "client", doc.error or "failed before sending")
                    continue
                problem = document_problem(doc)
                if problem:
                    self._fail([doc], "client", f"not sent: {problem}")
                    continue
                batch.append(doc)
                if len(batch) >= self.request_size:
                    await window.acquire()
                    tasks.add(self._start(batch, window))
                    batch = []
                await asyncio.sleep(0)  # let responses in between documents read from a generator
            if batch and not (stopping.is_set() or self.gateway_error):
                await window.acquire()
                tasks.add(self._start(batch, window))
            elif batch:
                self.report.not_sent.extend(_name(doc) for doc in batch)
            if tasks:
                await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Documents batched but not yet sent when the stop came.
            self.report.not_sent.extend(_name(doc) for doc in batch)
            raise

    def _start(self, batch: list[MediaDoc], window: asyncio.Semaphore) -> asyncio.Task:
        self.in_flight[id(batch)] = batch
        task = asyncio.ensure_future(self._request(batch))
        task.add_done_callback(lambda _: window.release())
        return task

    async def _request(self, batch: list[MediaDoc]) -> None:
        import grpc
        from jina.types.request.data import DataRequest

        request = DataRequest()
        request.header.exec_endpoint = self.endpoint
        if self.parameters:
            request.parameters = self.parameters
        request.document_array_cls = DocList[MediaDoc]
        request.data.docs = DocList[MediaDoc](batch)
        try:
            response = await self.stub.process_single_data(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as error:
            self._request_failed(batch, error)
            return
        except asyncio.CancelledError:
            raise  # interrupted: the batch stays in flight and is reported as such
        except Exception as error:  # the request could not even be serialised
            self._fail(
                self.in_flight.pop(id(batch), batch),
                "client",
                f"not sent: the request could not be encoded ({type(error).__name__}: {error})",
            )
            return
        self._response(batch, response)

    def _request_failed(self, batch: list[MediaDoc], error) -> None:
        import grpc

        code, details = error.code(), error.details() or ""
        match = _UNREACHABLE.search(details)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            stage = None
            why = (
                f"no result within {self.timeout:g} s (deadline exceeded): an executor is stalled or overloaded; "
                f"retry later, or raise the timeout (--timeout) if documents this size need longer"
            )
        elif match:
            stage = match.group(1)
            self.report.unreachable.add(stage)
            why = (
                f"executor {stage} is unreachable (down or restarting): the Flow could not pass this request "
                f"to it; the other documents go on; restart {stage} or retry when it is back"
            )
        elif code == grpc.StatusCode.UNAVAILABLE:
            stage = None
            first_line = details.splitlines()[0] if details else ""
            self.gateway_error = self.gateway_error or f"{code.name}: {first_line}"
            why = f"the Flow's gateway at {self.client.host} is unreachable ({first_line}): is the Flow running?"
        elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            stage = "gateway"
            why = f"the request is too large for the gateway ({details}): send fewer or smaller documents per request"
        else:
            stage = "gateway"
            why = f"the gateway failed the request ({code.name}: {details[:300]}); the other documents go on"
        self._fail(self.in_flight.pop(id(batch), batch), stage, why)

    def _response(self, batch: list[MediaDoc], response) -> None:
        from jina.proto import jina_pb2

        sent = {doc.id: doc for doc in self.in_flight.pop(id(batch), batch)}
        status = response.header.status
        if status.code == jina_pb2.StatusProto.ERROR:
            # An executor raised for the whole request: Jina puts its exception on the header.
            executor = status.exception.executor or None
            cause = (
                f"{status.exception.name}: {', '.join(status.exception.args)}"
                if status.exception.name
                else status.description or "request failed in the Flow"
            )
            self._fail(
                list(sent.values()),
                executor,
                f"{executor or 'an executor'} failed the whole request ({cause}); this is a bug in that "
                f"stage, not in the document: report it with the input",
            )
            return
        response.document_array_cls = DocList[MediaDoc]
        for doc in response.docs:
            original = sent.pop(doc.id, None)
            if original is None:
                continue  # not one of ours (an executor added it): nothing to account for
            self.report.returned += 1
            if not doc.name and original.name:
                doc.name = original.name
            self.bar.update(1)
            if self.on_result is not None:
                try:
                    self.on_result(doc)
                except Exception as error:  # e.g. the output could not be written: this document only
                    self.report.failures.append(
                        Failure(
                            _name(doc),
                            "client",
                            f"the result came back but handling it failed: {type(error).__name__}: {error}",
                        )
                    )
                    continue
            if doc.failed:
                self.report.failures.append(Failure(_name(doc), doc.error_stage, doc.error))
            else:
                self.report.succeeded += 1
        self._fail(list(sent.values()), None, "the Flow returned the request without this document")

    def _fail(self, docs: list[MediaDoc], stage: str | None, why: str) -> None:
        for doc in docs:
            self.report.failures.append(Failure(_name(doc), stage, why))
            self.bar.update(1)


def _name(doc: MediaDoc) -> str:
    return printable_name(doc.name or doc.id)


def _guarded(docs: Iterator[MediaDoc]) -> Iterator[MediaDoc]:
    """The input documents; a non-MediaDoc item becomes an error, not a crash half-way through."""
    for doc in docs:
        if not isinstance(doc, MediaDoc):
            raise TypeError(f"TransmodalClient.process takes MediaDoc documents, got {type(doc).__name__}")
        yield doc
