"""Starting a Flow from its YAML, for the CLI and the tests.

The YAML is the single description of a pipeline; this module only adapts it to where it runs: executor
paths resolved against the YAML's folder (so it runs from any working directory), and optionally other
gateway ports and a loopback-only host.

`running(flow)` starts a Flow and always stops it within a bounded time: Jina waits 60 s for each pod
that does not confirm its shutdown (a killed or hung executor: "Shutdown signal was not received"), so
pods whose process is already gone are marked stopped first, and whatever is still running after `grace`
seconds is killed. `executor_processes(flow)` maps each executor replica to its process id and ports.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import yaml

os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")

# Jina forks each executor and gateway from this process. A garbage cycle still holding a native object with
# threads of its own (an onnxruntime session of RapidOCR's, freed by an earlier test) is then collected in
# the child, where those threads did not survive the fork, and its destructor waits for them forever (seen:
# a gateway hung in garbage collection for ten minutes). Collected here, before each fork, it is freed where
# its threads still run.
os.register_at_fork(before=gc.collect)


def _skip_public_ip_lookup() -> None:
    # Jina looks up the public IP (api.ipify.org, ...) to print its ready table; offline this stalls
    # every start by up to ~10 s and no setting turns it off.
    import jina.orchestrate.orchestrator as orchestrator

    orchestrator.get_public_ip = lambda *args, **kwargs: None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flow_spec(
    path: str, ports: list[int] | None = None, host: str | None = None, replicas: dict[str, int] | None = None
) -> dict[str, Any]:
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


def with_transmodal_gateway(spec: dict[str, Any], max_body_bytes: int | None = None) -> dict[str, Any]:
    """`spec` with transmodal's gateway (HTTP body limit, readiness that follows the executors: see
    transmodal.gateway) unless the YAML names a gateway of its own."""
    gateway = spec.setdefault("gateway", {})
    if not gateway.get("uses"):
        gateway["uses"] = "TransmodalGateway"
        gateway["py_modules"] = ["transmodal.gateway"]
    if max_body_bytes is not None:
        gateway.setdefault("uses_with", {})["max_body_bytes"] = max_body_bytes
    return spec


def load_flow(
    path: str,
    ports: list[int] | None = None,
    host: str | None = None,
    replicas: dict[str, int] | None = None,
    max_body_bytes: int | None = None,
):
    """A jina Flow from the YAML at `path` (not started: use `running(flow)`), with transmodal's gateway."""
    _skip_public_ip_lookup()
    from jina import Flow

    return Flow.load_config(with_transmodal_gateway(flow_spec(path, ports, host, replicas), max_body_bytes))


def local_flow(path: str, replicas: dict[str, int] | None = None):
    """A Flow on a free loopback port, gRPC only: for one CLI run or a test. Returns (flow, address)."""
    port = free_port()
    flow = load_flow(path, ports=[port], host="127.0.0.1", replicas=replicas)
    return flow, f"grpc://127.0.0.1:{port}"


CLOSE_GRACE = float(os.environ.get("TRANSMODAL_CLOSE_GRACE", 10))


def flow_pods(flow) -> list[tuple[str, Any]]:
    """(name, jina Pod) of every process the started Flow runs: executor replicas, heads, the gateway."""
    pods = []
    for name, deployment in getattr(flow, "_deployment_nodes", {}).items():
        if getattr(deployment, "head_pod", None) is not None:
            pods.append((f"{name}/head", deployment.head_pod))
        for shard_id, shard in (getattr(deployment, "shards", None) or {}).items():
            for index, pod in enumerate(getattr(shard, "_pods", [])):
                suffix = f"/shard-{shard_id}" if len(deployment.shards) > 1 else ""
                pods.append((f"{name}{suffix}/rep-{index}", pod))
    return pods


def executor_processes(flow) -> dict[str, dict]:
    """{"TextDetector/rep-0": {"pid": 1234, "ports": [51234]}, ..., "gateway/rep-0": {...}} of a started Flow."""
    processes = {}
    for name, pod in flow_pods(flow):
        worker = getattr(pod, "worker", None)
        if worker is not None and worker.pid is not None:
            ports = pod.args.port if isinstance(pod.args.port, list) else [pod.args.port]
            processes[name] = {"pid": worker.pid, "ports": list(ports)}
    return processes


def close_flow(flow, grace: float = CLOSE_GRACE) -> float:
    """Stop a started Flow within about `grace` seconds, whatever state its processes are in; returns the
    seconds it took. No process of the Flow is left running afterwards."""
    from transmodal.signals import alive, kill_tree

    started = time.monotonic()
    pods = flow_pods(flow)
    pids = [pod.worker.pid for _, pod in pods if getattr(pod, "worker", None) is not None and pod.worker.pid]

    def mark_gone_pods_stopped() -> None:
        # A pod whose process has died never sets is_shutdown; Jina would wait 60 s for each of them.
        for _, pod in pods:
            worker = getattr(pod, "worker", None)
            if worker is not None and worker.pid and not alive(worker.pid):
                pod.is_shutdown.set()

    mark_gone_pods_stopped()
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(grace):
            return
        kill_tree([pid for pid in pids if alive(pid)], wait=1.0)
        for _, pod in pods:
            pod.is_shutdown.set()

    guard = threading.Thread(target=watchdog, name="transmodal-close-watchdog", daemon=True)
    guard.start()
    try:
        flow.__exit__(None, None, None)
    finally:
        done.set()
        leftover = [pid for pid in pids if alive(pid)]
        if leftover:
            kill_tree(leftover, wait=1.0)
    return time.monotonic() - started


@contextlib.contextmanager
def running(flow, grace: float = CLOSE_GRACE) -> Iterator[Any]:
    """`with running(flow):` starts the Flow and stops it with `close_flow` (bounded, nothing left behind)."""
    flow.__enter__()
    try:
        yield flow
    finally:
        close_flow(flow, grace)
