"""Starting a Flow from its YAML, for the CLI and the tests.

The YAML is the single description of a pipeline; this module only adapts it to where it runs: executor
paths resolved against the YAML's folder (so it runs from any working directory), and optionally other
gateway ports and a loopback-only host.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import yaml

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")


def _skip_public_ip_lookup() -> None:
    # Jina looks up the public IP (api.ipify.org, ...) to print its ready table; offline this stalls
    # every start by up to ~10 s and no setting turns it off.
    import jina.orchestrate.orchestrator as orchestrator

    orchestrator.get_public_ip = lambda *args, **kwargs: None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flow_spec(path: str, ports: list[int] | None = None, host: str | None = None,
              replicas: dict[str, int] | None = None) -> dict[str, Any]:
    """The Flow YAML as a dict, with executor `uses:` paths made absolute and overrides applied."""
    with open(path) as file:
        spec = yaml.safe_load(file)
    folder = os.path.dirname(os.path.abspath(path))
    flow_with = spec.setdefault("with", {})
    if ports is not None:
        protocols = flow_with.get("protocol", ["grpc"])
        protocols = protocols if isinstance(protocols, list) else [protocols]
        flow_with["port"] = ports[: len(protocols)]
        flow_with["protocol"] = protocols[: len(ports)]
    if host is not None:
        flow_with["host"] = host
    for executor in spec.get("executors", []):
        uses = executor.get("uses")
        if isinstance(uses, str) and uses.endswith((".yml", ".yaml")) and not os.path.isabs(uses):
            executor["uses"] = os.path.join(folder, uses)
        if replicas and executor.get("name") in replicas:
            executor["replicas"] = replicas[executor["name"]]
    return spec


def load_flow(path: str, ports: list[int] | None = None, host: str | None = None,
              replicas: dict[str, int] | None = None):
    """A jina Flow from the YAML at `path` (not started: use it as a context manager)."""
    _skip_public_ip_lookup()
    from jina import Flow

    return Flow.load_config(flow_spec(path, ports, host, replicas))


def local_flow(path: str, replicas: dict[str, int] | None = None):
    """A Flow on a free loopback port, gRPC only: for one CLI run or a test. Returns (flow, address)."""
    port = free_port()
    flow = load_flow(path, ports=[port], host="127.0.0.1", replicas=replicas)
    return flow, f"grpc://127.0.0.1:{port}"
