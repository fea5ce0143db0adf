"""Reliability: one test per failure mode of issue 10.

Stop signals (processes counted in the process table), a per-request deadline against a deliberately
stalled executor, a killed executor (named, readiness 503, restart picked up, no 60 s shutdown), requests
that cannot travel (lone surrogates, deep nesting), engine errors turned into messages, the HTTP body limit
(413 before the body is read), detection on a pixel budget.

The Flows here run two tiny test executors (below, written to a temporary file): no models, so each Flow
starts in a few seconds. The soak (thousands of documents, a replica killed and restarted, a stall) is
`benchmarks/soak.py`, run by `make bench`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from transmodal.client import TransmodalClient
from transmodal.docs import MediaDoc
from transmodal.errors import BadInputError
from transmodal.flows import close_flow, executor_processes, free_port, load_flow
from transmodal.media import decode_image_scaled, encode_image, fit_pixels, scale_lines
from transmodal.ocr.lines import Line
from transmodal.processing import mark_failed
from transmodal.signals import alive, descendants
from transmodal.validation import InvalidRequestError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Test-only executors. "stall..." documents sleep (asynchronously: the executor keeps serving others).
EXECUTORS = """
import asyncio

from docarray import DocList
from jina import Executor, requests

from transmodal.docs import MediaDoc


class Echo(Executor):
    @requests
    async def echo(self, docs: DocList[MediaDoc], **kwargs) -> DocList[MediaDoc]:
        for doc in docs:
            if (doc.text or "").startswith("stall"):
                await asyncio.sleep(120)
            doc.translation = (doc.text or "").upper()
            doc.trace.append(self.metas.name)
        return docs
"""


def write_flow(folder, protocols=("grpc",), gateway: dict | None = None) -> str:
    (folder / "reliability_executors.py").write_text(EXECUTORS)
    module = str(folder / "reliability_executors.py")
    for name in ("First", "Second"):
        (folder / f"{name}.yml").write_text(
            json.dumps({"jtype": "Echo", "py_modules": [module], "metas": {"name": name}})
        )
    spec = {
        "jtype": "Flow",
        "with": {"protocol": list(protocols)},
        "executors": [{"name": name, "uses": str(folder / f"{name}.yml")} for name in ("First", "Second")],
    }
    if gateway:
        spec["gateway"] = gateway
    path = folder / "flow.yml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return str(path)


def start(path: str, http: bool = False, max_body_bytes: int | None = None):
    """A started Flow on loopback: (flow, grpc_port, http_port or None)."""
    ports = [free_port(), free_port()] if http else [free_port()]
    flow = load_flow(path, ports=ports, host="127.0.0.1", max_body_bytes=max_body_bytes)
    flow.__enter__()
    return flow, ports[0], ports[1] if http else None


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_for(condition, seconds: float, step: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def docs(*texts: str) -> list[MediaDoc]:
    return [MediaDoc(text=text, name=f"{text}.txt") for text in texts]


def subprocess_env() -> dict:
    # The checkout under test first: the installed package may point at another checkout.
    return {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "JINA_OPTOUT_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
    }


# ---------------------------------------------------------------------------------------------------------
# Requests that cannot travel: refused in the client, before anything is sent


def test_parameters_that_cannot_travel_are_refused_before_sending():
    client = TransmodalClient("grpc://127.0.0.1:1")  # nothing listens: a refused request never connects
    nested: dict = {"leaf": 1}
    for _ in range(200):
        nested = {"n": nested}
    cases = {
        "nested": {"deep": nested},
        "surrogate": {"target_lang": "e\ud800s"},
        "must be a language code string": {"source_lang": ["en"]},
        "must map source terms": {"glossary": ["Captain Marvel"]},
        "keys must be strings": {"x": {1: "a"}},
        "JSON": {"x": b"bytes"},
    }
    for expected, parameters in cases.items():
        with pytest.raises(InvalidRequestError, match=expected):
            client.process(docs("one"), parameters=parameters)


def test_engine_errors_become_messages_with_stage_cause_and_what_to_do():
    class ResizeImgError(Exception):  # what RapidOCR raises, with no message, for a 10000x1 image
        pass

    thin = MediaDoc(image=encode_image(np.zeros((1, 10000, 3), np.uint8)))
    mark_failed(thin, "TextDetector", ResizeImgError())
    assert thin.error_stage == "TextDetector"
    assert "TextDetector" in thin.error and "10000x1" in thin.error and "too thin" in thin.error
    assert "at least 16 pixels" in thin.error and "ResizeImgError" in thin.error

    wrong_type = MediaDoc(text="x")
    mark_failed(wrong_type, "TextTranslator", AttributeError("'list' object has no attribute 'strip'"))
    assert "wrong type" in wrong_type.error and "parameters" in wrong_type.error
    assert wrong_type.error.startswith("TextTranslator")

    bug = MediaDoc(text="x")
    mark_failed(bug, "TextRenderer", KeyError())
    assert "bug in TextRenderer" in bug.error and "KeyError: no message" in bug.error

    plain = MediaDoc(text="x")
    mark_failed(plain, "TextEraser", BadInputError("empty image: the document has no image bytes"))
    assert plain.error == "empty image: the document has no image bytes"  # already a user's message


@pytest.mark.slow
def test_a_10000x1_image_fails_with_a_readable_message_in_the_detector():
    pytest.importorskip("rapidocr_onnxruntime")
    from docarray import DocList

    from executors.text_detector.executor import TextDetector

    thin = MediaDoc(image=encode_image(np.full((1, 10000, 3), 255, np.uint8)), name="thin.png", source_lang="en")
    result = TextDetector(backend="rapidocr").detect(DocList[MediaDoc]([thin]))[0]
    assert result.error_stage == "TextDetector"
    assert "too thin" in result.error and "10000x1" in result.error, result.error


def test_detection_works_on_a_pixel_budget_and_boxes_come_back_on_the_original():
    pixels = np.zeros((2000, 3000, 3), np.uint8)
    pixels[1000:1100, 1500:2400] = 255  # a bright bar at x 1500..2400, y 1000..1100
    small, scale = fit_pixels(pixels, 1_500_000)
    assert small.shape[0] * small.shape[1] <= 1_500_000 and scale == pytest.approx(0.5, abs=0.01)
    decoded, decoded_scale = decode_image_scaled(encode_image(pixels), budget=1_500_000)
    assert decoded.shape == small.shape and decoded_scale == pytest.approx(scale)
    ys, xs = np.nonzero(decoded[..., 0] > 127)
    found = [Line(box=(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), text="bar")]
    (back,) = scale_lines(found, 1 / decoded_scale)
    assert back.box == pytest.approx((1500, 1000, 2400, 1100), abs=4)
    assert fit_pixels(pixels, 10_000_000)[1] == 1.0  # within the budget: untouched
    with pytest.raises(BadInputError, match="too large"):
        decode_image_scaled(encode_image(pixels), max_pixels=1_000_000)


# ---------------------------------------------------------------------------------------------------------
# A running Flow (gRPC + HTTP, transmodal's gateway): deadlines, requests that cannot travel, body limit


@pytest.fixture(scope="module")
def echo_flow(tmp_path_factory):
    path = write_flow(tmp_path_factory.mktemp("echo"), protocols=("grpc", "http"))
    flow, grpc_port, http_port = start(path, http=True, max_body_bytes=1_000_000)
    try:
        yield grpc_port, http_port
    finally:
        close_flow(flow)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_stalled_request_fails_by_name_at_its_deadline_and_the_stream_goes_on(echo_flow):
    grpc_port, _ = echo_flow
    results = {}
    started = time.monotonic()
    report = TransmodalClient(f"grpc://127.0.0.1:{grpc_port}", timeout=3).process(
        docs("one", "stall", "two", "three"), on_result=lambda doc: results.update({doc.name: doc})
    )
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"the deadline did not stop the wait: {elapsed:.1f} s"
    assert report.succeeded == 3 and {results[name].translation for name in results} == {"ONE", "TWO", "THREE"}
    (failure,) = report.failures
    assert failure.name == "stall.txt" and "no result within 3 s" in failure.error
    assert report.lost == 0


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_a_lone_surrogate_fails_its_document_alone_and_nested_parameters_are_refused(echo_flow):
    grpc_port, _ = echo_flow
    client = TransmodalClient(f"grpc://127.0.0.1:{grpc_port}", timeout=20)
    batch = docs("before", "after")
    batch.insert(1, MediaDoc(text="bad", name="bad.txt", source_lang="e\ud800"))
    batch.append(MediaDoc(text="bad name", name="caf\udce9.txt"))  # a file name decoded with surrogateescape
    batch.append(MediaDoc(phones="r 'E \ud800 d", name="phones.txt"))  # phones travel as text does
    batch.append(
        MediaDoc(name="unreadable.txt", error="cannot read unreadable.txt: Permission denied", error_stage="client")
    )  # the CLI could not read the file: reported, not sent
    report = client.process(batch, request_size=2)
    assert report.succeeded == 2, report.failures  # the good documents, even the one sent just before
    failures = {failure.name: failure for failure in report.failures}
    assert set(failures) == {"bad.txt", "caf\\udce9.txt", "phones.txt", "unreadable.txt"}
    assert all(
        failures[name].stage == "client" and "lone surrogate" in failures[name].error
        for name in ("bad.txt", "caf\\udce9.txt", "phones.txt")
    )
    assert failures["unreadable.txt"].error == "cannot read unreadable.txt: Permission denied"
    assert report.returned == 2 and report.lost == 0
    nested: dict = {}
    for _ in range(200):
        nested = {"n": nested}
    with pytest.raises(InvalidRequestError, match="nested more than"):
        client.process(docs("x"), parameters={"deep": nested})
    assert client.process(docs("still")).ok  # and the Flow serves on


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_http_body_over_the_limit_gets_413_before_it_is_read(echo_flow):
    _, http_port = echo_flow
    with socket.create_connection(("127.0.0.1", http_port), timeout=10) as connection:
        # Claim 50 MB and send none of it: only a server that decides on the headers can answer.
        connection.sendall(
            b"POST /default HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
        )
        started = time.monotonic()
        head = connection.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert time.monotonic() - started < 5
    body = json.dumps({"data": [{"text": "small"}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/default", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # under the limit: served
        assert response.status == 200
        assert json.loads(response.read())["data"][0]["translation"] == "SMALL"


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_the_gateway_config_of_the_container_images_is_transmodals_gateway(tmp_path):
    # deploy/gateway.Dockerfile copies deploy/gateway.yml to where the Kubernetes and compose exports start
    # the gateway from (`jina gateway --uses config.yml`): loaded from that file, it must be this gateway
    # (readiness at /ready, which Jina's own gateway does not serve, and the body limit).
    path = write_flow(
        tmp_path, protocols=("grpc", "http"), gateway={"uses": os.path.join(ROOT, "deploy", "gateway.yml")}
    )
    flow, _, http_port = start(path, http=True, max_body_bytes=1000)
    try:
        assert wait_for(lambda: get(http_port, "/ready")[0] == 200, 20)
        assert get(http_port, "/ready")[1]["ready"] is True
        big = json.dumps({"data": [{"text": "x" * 2000}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/default", data=big, headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=20)
        assert refused.value.code == 413
    finally:
        close_flow(flow)


# ---------------------------------------------------------------------------------------------------------
# A killed executor: named, readiness follows, a restart is picked up, shutdown does not wait 60 s


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_killed_executor_is_named_readiness_follows_and_shutdown_does_not_wait(tmp_path):
    path = write_flow(tmp_path, protocols=("grpc", "http"))
    flow, grpc_port, http_port = start(path, http=True)
    replacement = None
    pids = []
    try:
        processes = executor_processes(flow)
        pids = [process["pid"] for process in processes.values()]
        second = processes["Second/rep-0"]
        assert get(http_port, "/ready")[0] == 200
        os.kill(second["pid"], signal.SIGKILL)

        client = TransmodalClient(f"grpc://127.0.0.1:{grpc_port}", timeout=20)
        report = client.process(docs("a", "b", "c"))  # no ConnectionError: the gateway is up
        assert report.unreachable == {"Second"} and report.succeeded == 0 and report.lost == 0
        assert {failure.name for failure in report.failures} == {"a.txt", "b.txt", "c.txt"}
        assert all(
            failure.stage == "Second" and "executor Second is unreachable" in failure.error
            for failure in report.failures
        )
        status = wait_for(lambda: get(http_port, "/status")[0] == 503 and get(http_port, "/status"), 10)
        assert status and status[1]["unreachable"] == ["Second"], status
        assert client.health() == (False, "executor Second is unreachable")

        # The same executor started again on its port: the Flow picks it up, no restart.
        replacement = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jina",
                "executor",
                "--uses",
                str(tmp_path / "Second.yml"),
                "--host",
                "127.0.0.1",
                "--port",
                str(second["ports"][0]),
            ],
            env=subprocess_env(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: get(http_port, "/ready")[0] == 200, 45), "restarted executor not picked up"
        again = client.process(docs("back"))
        assert again.ok, again.failures
    finally:
        took = close_flow(flow)
        if replacement is not None:
            os.killpg(replacement.pid, signal.SIGTERM)
            replacement.wait(15)
    assert took < 15, f"shutdown with a killed executor took {took:.0f} s"
    assert not [pid for pid in pids if alive(pid)]


# ---------------------------------------------------------------------------------------------------------
# Stop signals: the whole process tree goes, an interrupted run says what happened to every input


def _serve(flow_path: str, grpc_port: int, http_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transmodal.cli",
            "serve",
            flow_path,
            "--port",
            str(grpc_port),
            "--http-port",
            str(http_port),
            "--host",
            "127.0.0.1",
        ],
        env=subprocess_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_stop_signal_to_serve_stops_every_process_it_started(tmp_path, stop):
    """SIGKILL runs no handler: the children go because the kernel tells them (PR_SET_PDEATHSIG)."""
    path = write_flow(tmp_path, protocols=("grpc", "http"))
    grpc_port, http_port = free_port(), free_port()
    server = _serve(path, grpc_port, http_port)
    try:
        assert wait_for(lambda: _ready(http_port), 60), "serve did not get ready"
        started = descendants(server.pid)
        assert len(started) >= 3, started  # two executors and the gateway (Jina may add helpers)
        began = time.monotonic()
        server.send_signal(stop)  # the process only, as `kill` and systemd do: not its group
        code = server.wait(20)
        stopped_in = time.monotonic() - began
        assert wait_for(lambda: not [pid for pid in started if alive(pid)], 5), (
            f"left behind: {[pid for pid in started if alive(pid)]}"
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        for pid in descendants(server.pid):
            os.kill(pid, signal.SIGKILL)
    assert code == (-stop if stop == signal.SIGKILL else 128 + stop)
    assert stopped_in < 12, f"took {stopped_in:.1f} s"


def _ready(http_port: int) -> bool:
    try:
        return get(http_port, "/ready")[0] == 200
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_interrupted_run_reports_finished_failed_and_not_sent_and_leaves_nothing(tmp_path):
    path = write_flow(tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    names = ["one", "two", "stall1", "stall2", "stall3", "stall4", "three", "four"]
    for name in names:
        (inputs / f"{name}.txt").write_text(name)
    out = tmp_path / "out"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transmodal.cli",
            "run",
            path,
            *[str(inputs / f"{name}.txt") for name in names],
            "--out",
            str(out),
            "--quiet",
            "--timeout",
            "100",
        ],
        env=subprocess_env(),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Four requests in flight at most: one and two come back, the four stalls fill the window.
        assert wait_for(lambda: out.is_dir() and len(list(out.iterdir())) >= 2, 60), "no results came back"
        time.sleep(1.0)
        started = descendants(run.pid)
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "2/" in stdout and "wrote" in stdout
    for name in ("stall1", "stall2", "stall3", "stall4"):
        assert f"FAILED {name}.txt: interrupted before a result came back" in stderr, stderr[-2000:]
    for name in ("three", "four"):
        assert re.search(rf"NOT SENT \S*{name}", stderr), stderr[-2000:]
    assert "interrupted: 2 finished, 4 failed, 2 not sent" in stderr
    assert wait_for(lambda: not [pid for pid in started if alive(pid)], 5), "processes left behind"


def test_garbage_is_collected_before_a_flow_forks_not_in_the_child():
    # What a forked executor must not do: free, in garbage collection, a native object whose threads stayed
    # behind in the parent (an onnxruntime session's destructor then waits for them forever).
    import gc
    import multiprocessing

    import transmodal.flows  # noqa: F401  # registers the collection before each fork

    freed_in = multiprocessing.get_context("fork").Queue()

    class Native:
        def __del__(self):
            freed_in.put(os.getpid())

    gc.disable()  # only the collection before the fork, or the child's own, can free the cycle
    try:
        cycle = [Native()]
        cycle.append(cycle)
        del cycle
        child = multiprocessing.get_context("fork").Process(target=gc.collect)
        child.start()
        child.join(10)
        assert child.exitcode == 0
        assert freed_in.get(timeout=5) == os.getpid()  # freed here, before the fork, not in the child
    finally:
        gc.enable()
