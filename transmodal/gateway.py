"""The transmodal gateway: Jina's gateway (gRPC, HTTP, WebSocket, any mix) plus a request-body limit on HTTP
and readiness that reflects the executors.

Jina's HTTP gateway reads any request body whole before looking at it (a 50 MB POST: 684 MB peak in the
gateway), and its `/status` and gRPC health say "serving" while an executor is down. This gateway:

- answers an HTTP request whose `Content-Length` exceeds `max_body_bytes` with 413 at once, before any of
  the body is read, and stops reading a chunked body (no Content-Length) as soon as it passes the limit;
- checks every executor's gRPC health every `readiness_interval` seconds; while one does not answer,
  `GET /status` and `GET /ready` answer 503 naming it, and the gateway's gRPC health service (what
  `jina ping` and the Kubernetes probes ask) says NOT_SERVING. It says SERVING again once the executor
  answers again (a replica restarted on its port is picked up by the gateway without a restart).

Use it from a Flow YAML (transmodal.flows.load_flow adds it when the YAML names no gateway):

    gateway:
      uses: TransmodalGateway
      py_modules: [transmodal.gateway]
      uses_with: {max_body_bytes: 20000000}

`TRANSMODAL_MAX_BODY_BYTES` sets the default limit (20 MB); 0 turns it off.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from jina.serve.runtimes.gateway.composite import CompositeGateway
from jina.serve.runtimes.gateway.http import HTTPGateway

DEFAULT_MAX_BODY_BYTES = int(os.environ.get("TRANSMODAL_MAX_BODY_BYTES", 20_000_000))
READINESS_PATHS = ("/status", "/ready")


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, decided before the body is read."""

    def __init__(self, app, max_bytes: int, readiness: Readiness | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.readiness = readiness

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.readiness is not None and scope["method"] == "GET" and scope["path"] in READINESS_PATHS:
            down = self.readiness.unreachable
            if down or scope["path"] == "/ready":
                await _respond(
                    send,
                    503 if down else 200,
                    {
                        "ready": not down,
                        "unreachable": down,
                        "detail": f"executor(s) not answering: {', '.join(down)}" if down else "every executor answers",
                    },
                )
                return
        if not self.max_bytes:
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await _too_large(send, self.max_bytes, length.decode("latin-1"))
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): count while the application reads, stop at the limit.
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, self.max_bytes, f"more than {self.max_bytes}")


class _TooLarge(Exception):
    pass


async def _too_large(send, limit: int, length: str) -> None:
    await _respond(
        send,
        413,
        {
            "detail": f"request body of {length} bytes exceeds the limit of {limit} bytes: "
            f"send fewer or smaller documents per request (max_body_bytes)"
        },
    )


async def _respond(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )  # the unread body must not be parsed as a next request
    await send({"type": "http.response.body", "body": payload})


class Readiness:
    """Which executors do not answer a gRPC health check, refreshed in the background."""

    def __init__(self, addresses: dict[str, list[str]], interval: float, timeout: float):
        self.addresses = addresses
        self.interval = interval
        self.timeout = timeout
        self.unreachable: list[str] = []
        self.on_change: list[Any] = []

    async def check_once(self) -> list[str]:
        from jina.serve.networking.utils import send_health_check_async

        async def answers(address: str) -> bool:
            try:
                await asyncio.wait_for(send_health_check_async(address, timeout=self.timeout), self.timeout + 0.5)
                return True
            except Exception:
                return False

        names = list(self.addresses)
        results = await asyncio.gather(
            *[asyncio.gather(*[answers(address) for address in self.addresses[name]]) for name in names]
        )
        # An executor is reachable while at least one of its replicas answers.
        return [name for name, replicas in zip(names, results) if replicas and not any(replicas)]

    async def run(self) -> None:
        while True:
            down = await self.check_once()
            if down != self.unreachable:
                self.unreachable = down
                for callback in self.on_change:
                    await callback(down)
            await asyncio.sleep(self.interval)


def _executor_addresses(runtime_args) -> dict[str, list[str]]:
    raw = getattr(runtime_args, "deployments_addresses", None) or "{}"
    addresses = json.loads(raw) if isinstance(raw, str) else dict(raw)
    grpc_addresses = {}
    for name, value in addresses.items():
        if isinstance(value, dict):
            value = value.get("grpc", [])
        grpc_addresses[name] = [address.replace("grpc://", "") for address in value]
    return grpc_addresses


class TransmodalGateway(CompositeGateway):
    """Jina's gateway for the Flow's protocols, with the body limit and readiness described above."""

    def __init__(
        self,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        readiness_interval: float = 2.0,
        readiness_timeout: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.max_body_bytes = max_body_bytes
        runtime_args = self.runtime_args
        self.readiness = Readiness(_executor_addresses(runtime_args), readiness_interval, readiness_timeout)
        self._readiness_task: asyncio.Task | None = None
        for server in self.servers:
            if type(server) is HTTPGateway:
                server.__class__ = _LimitedHTTPGateway
                server.max_body_bytes = max_body_bytes
                server.readiness = self.readiness

    async def setup_server(self):
        await super().setup_server()
        self.readiness.on_change.append(self._set_grpc_health)
        self._readiness_task = asyncio.create_task(self.readiness.run())

    async def _set_grpc_health(self, down: list[str]) -> None:
        from grpc_health.v1 import health_pb2

        status = health_pb2.HealthCheckResponse.NOT_SERVING if down else health_pb2.HealthCheckResponse.SERVING
        if down:
            self.logger.warning(f"not ready: executor(s) {', '.join(down)} do not answer")
        else:
            self.logger.info("ready: every executor answers again")
        for server in self.servers:
            servicer = getattr(server, "health_servicer", None)
            if servicer is not None:
                await servicer.set("", status)

    @property
    def _should_exit(self) -> bool:
        # Jina's composite counts a server without `should_exit` (gRPC) as exited: alone, gRPC would stop
        # right after starting. Exit when every server that can say so says so; gRPC alone: on cancel.
        flags = [server.should_exit for server in self.servers if hasattr(server, "should_exit")]
        return bool(flags) and all(flags)

    async def shutdown(self):
        if self._readiness_task is not None:
            self._readiness_task.cancel()
        await super().shutdown()


class _LimitedHTTPGateway(HTTPGateway):
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    readiness: Readiness | None = None

    @property
    def app(self):
        app = super().app
        app.add_middleware(BodyLimit, max_bytes=self.max_body_bytes, readiness=self.readiness)
        return app
