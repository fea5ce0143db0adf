"""Soak and fault harness: long streams with hostile inputs, a replica killed and restarted, an executor
stalled, one 6000x6000 image, then shutdown and a count of processes left behind. Loopback only, bounded.

    .venv/bin/python benchmarks/soak.py [--docs 5000] [--real-docs 150] [--hostile 0.12] [--json out.json]

Two phases, each through transmodal's client and gateway, each Flow stopped with `transmodal.flows`:

1. Volume (`--docs`, default 5000): a three-stage Flow of light executors that do the per-document work
   every transmodal executor shares (resolve the language, decode the image with its size checks, fail a
   document by name with `transmodal.processing`), Decode x2 replicas. At 25 % of the stream Decode/rep-1
   is SIGKILLed and started again on its port (`jina executor`) 3 s later; at 55 % Translate is
   SIGSTOPped for `--stall-seconds` (longer than the request deadline `--timeout`), then SIGCONT.
   OCR is left out here on purpose: TextDetector takes 0.25-1 s even for a blank 96x48 image on these
   2 cores, so 5,000 documents through flow.yml would take hours.
2. Real (`--real-docs`, default 150): flow.yml (TextDetector x2) with the same mix of hostile inputs,
   then one 6000x6000 page: peak memory of every executor.

Hostile inputs (`--hostile`, default 12 %): corrupt, truncated, empty, decompression-bomb and 10000x1
images, an unknown and an unencodable (lone surrogate) language, a document without an image.

Prints per phase: sent / returned / ok / error / lost / not sent (and documents unaccounted for by name),
outcomes by kind of input, failure causes, the peak resident memory of every process (with the processes
it starts), shutdown time and any process left behind. Exit status 1 when a document is lost or a process
is left behind.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # Tesseract: 4x slower on 2 cores without it

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from transmodal.client import TransmodalClient  # noqa: E402
from transmodal.docs import MediaDoc  # noqa: E402
from transmodal.flows import executor_processes, free_port, load_flow, running  # noqa: E402
from transmodal.media import encode_image  # noqa: E402
from transmodal.signals import alive, descendants, kill_tree, stop_signals  # noqa: E402

FLOW = os.path.join(ROOT, "flow.yml")
DETECTOR_CONFIG = os.path.join(ROOT, "executors", "text_detector", "config.yml")

LIGHT_EXECUTORS = '''
import numpy as np
from docarray import DocList
from jina import Executor, requests

from transmodal import languages
from transmodal.docs import MediaDoc
from transmodal.media import decode_image
from transmodal.processing import for_each_doc, traced


class Decode(Executor):
    """Language resolved and image decoded with the shared checks; the mean brightness becomes the text."""

    @requests
    def decode(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        def work(doc: MediaDoc) -> None:
            doc.source_lang = languages.resolve(doc.source_lang, parameters, "source_lang", "en")
            pixels = decode_image(doc.image, 4_000_000)
            doc.text = f"brightness {int(np.mean(pixels))}"

        for_each_doc(docs, self.metas.name, work)
        return traced(docs, self)


class Translate(Executor):
    @requests
    def translate(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        def work(doc: MediaDoc) -> None:
            doc.target_lang = languages.resolve(doc.target_lang, parameters, "target_lang", "es")
            doc.translation = (doc.text or "").upper()

        for_each_doc(docs, self.metas.name, work)
        return traced(docs, self)


class Finish(Executor):
    @requests
    def finish(self, docs: DocList[MediaDoc], **kwargs) -> DocList[MediaDoc]:
        return traced(docs, self)
'''


def light_flow(folder: str) -> tuple[str, dict[str, str]]:
    """The volume phase's Flow YAML in `folder`, and the executor configs (for restarting one)."""
    module = os.path.join(folder, "soak_executors.py")
    with open(module, "w") as file:
        file.write(LIGHT_EXECUTORS)
    configs = {}
    for name in ("Decode", "Translate", "Finish"):
        configs[name] = os.path.join(folder, f"{name}.yml")
        with open(configs[name], "w") as file:
            json.dump({"jtype": name, "py_modules": [module], "metas": {"name": name}}, file)
    path = os.path.join(folder, "soak-flow.yml")
    with open(path, "w") as file:
        json.dump(
            {
                "jtype": "Flow",
                "executors": [
                    {"name": name, "uses": config, "replicas": 2 if name == "Decode" else 1}
                    for name, config in configs.items()
                ],
            },
            file,
        )
    return path, configs


WORDS = ["OPEN", "EXIT", "SALE", "STOP", "CAFE", "BREAD", "PULL", "PUSH"]


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def small_images(count: int = 16) -> list[bytes]:
    images = []
    for index in range(count):
        image = Image.new("RGB", (96, 48), (240, 240, 235))
        if index % 2:
            ImageDraw.Draw(image).text((8, 16), WORDS[index % len(WORDS)], fill=(10, 10, 10))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def hostile(index: int, good: bytes) -> tuple[str, MediaDoc]:
    kinds = [
        ("corrupt", lambda: MediaDoc(image=b"not an image at all")),
        ("truncated", lambda: MediaDoc(image=good[: len(good) // 2])),
        ("empty", lambda: MediaDoc(image=b"")),
        ("bomb", lambda: MediaDoc(image=png_claiming(50_000, 50_000))),
        ("thin", lambda: MediaDoc(image=encode_image(np.full((1, 10000, 3), 255, np.uint8)))),
        ("unknown-language", lambda: MediaDoc(image=good, source_lang="xx")),
        ("surrogate-language", lambda: MediaDoc(image=good, source_lang="e\ud800")),
        ("no-image", lambda: MediaDoc(text="only text")),
    ]
    kind, make = kinds[index % len(kinds)]
    return kind, make()


class Memory:
    """Peak resident memory of named processes (a process and the children it starts, e.g. tesseract)."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.watched: dict[str, int] = {}
        self.peaks: dict[str, float] = {}
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.own: int | None = None

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self.watched[name] = pid

    def watch_self(self) -> None:
        """This process alone (its children are the Flow's processes, watched by name)."""
        self.own = os.getpid()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.own is not None:
                self.peaks["soak client (this process)"] = max(
                    self.peaks.get("soak client (this process)", 0.0), _rss_mb(self.own)
                )
            with self._lock:
                watched = dict(self.watched)
            for name, pid in watched.items():
                total = 0.0
                for member in [pid, *descendants(pid)]:
                    self.seen.add(member)
                    total += _rss_mb(member)
                self.peaks[name] = max(self.peaks.get(name, 0.0), total)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


class Faults(threading.Thread):
    """Kills a replica and starts it again on its port, then stalls an executor, when the stream gets there."""

    def __init__(
        self,
        flow,
        progress,
        total: int,
        kill: str | None,
        kill_config: str | None,
        stall: str | None,
        stall_seconds: float,
        memory: Memory,
        log,
    ):
        super().__init__(daemon=True)
        self.processes = executor_processes(flow)
        self.progress = progress
        self.total = total
        self.kill, self.kill_config, self.stall = kill, kill_config, stall
        self.stall_seconds = stall_seconds
        self.memory = memory
        self.log = log
        self.replacement: subprocess.Popen | None = None
        self.events: list[str] = []
        self.done = threading.Event()

    def wait_for(self, fraction: float) -> bool:
        while self.progress() < fraction * self.total:
            if self.done.wait(0.05):
                return False
        return True

    def run(self) -> None:
        victim = self.processes.get(self.kill or "")
        if victim and self.kill_config and self.wait_for(0.25):
            os.kill(victim["pid"], signal.SIGKILL)
            self.note(f"SIGKILL {self.kill} (pid {victim['pid']}) at document {self.progress()}")
            time.sleep(3)
            env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
            self.replacement = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jina",
                    "executor",
                    "--uses",
                    self.kill_config,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(victim["ports"][0]),
                    "--name",
                    self.kill,
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.memory.watch(f"{self.kill} (restarted)", self.replacement.pid)
            self.note(
                f"started {self.kill} again on port {victim['ports'][0]} (pid {self.replacement.pid}) "
                f"at document {self.progress()}"
            )
        stalled = self.processes.get(self.stall or "")
        if stalled and self.wait_for(0.55):
            os.kill(stalled["pid"], signal.SIGSTOP)
            self.note(f"SIGSTOP {self.stall} for {self.stall_seconds:g} s at document {self.progress()}")
            time.sleep(self.stall_seconds)
            os.kill(stalled["pid"], signal.SIGCONT)
            self.note(f"SIGCONT {self.stall} at document {self.progress()}")

    def note(self, event: str) -> None:
        self.events.append(event)
        self.log(event)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_phase(
    name: str,
    flow_path: str,
    count: int,
    hostile_fraction: float,
    timeout: float,
    concurrency: int,
    max_seconds: float,
    replicas: dict[str, int] | None = None,
    kill: str | None = None,
    kill_config: str | None = None,
    stall: str | None = None,
    stall_seconds: float = 0.0,
    big_image: bool = False,
) -> dict:
    """One Flow: start, stream `count` documents (with faults), optionally one 6000x6000 image, stop, count."""
    rng = random.Random(10)
    images = small_images()
    good = images[1]
    port = free_port()  # gRPC only, on loopback
    flow = load_flow(flow_path, ports=[port], host="127.0.0.1", replicas=replicas)
    memory = Memory()
    memory.watch_self()
    sent_names: dict[str, str] = {}  # name -> kind of input
    outcome: dict[str, str] = {}
    counter = {"yielded": 0}
    results: dict = {"phase": name}
    faults = None
    close_started = time.monotonic()
    started = time.monotonic()
    try:
        log(f"{name}: starting {os.path.relpath(flow_path, ROOT)} on 127.0.0.1:{port}")
        with running(flow):
            for process_name, process in executor_processes(flow).items():
                memory.watch(process_name, process["pid"])
            memory.start()
            log(f"{name}: ready in {time.monotonic() - started:.1f} s; streaming {count} documents")
            faults = Faults(
                flow, lambda: counter["yielded"], count, kill, kill_config, stall, stall_seconds, memory, log
            )
            faults.start()
            deadline = time.monotonic() + max_seconds

            def documents():
                for index in range(count):
                    if time.monotonic() > deadline:
                        log(f"{name}: time budget of {max_seconds:g} s spent: stopping at document {index}")
                        return
                    if rng.random() < hostile_fraction:
                        kind, doc = hostile(index, good)
                    else:
                        kind, doc = "small", MediaDoc(image=images[index % len(images)])
                    doc.name = f"{index:05d}-{kind}"
                    sent_names[doc.name] = kind
                    counter["yielded"] += 1
                    if counter["yielded"] % 1000 == 0:
                        log(f"{name}: {counter['yielded']} documents sent")
                    yield doc

            def on_result(doc: MediaDoc) -> None:
                outcome[doc.name] = "error" if doc.failed else "ok"

            client = TransmodalClient(f"grpc://127.0.0.1:{port}", timeout=timeout, concurrency=concurrency)
            stream_started = time.monotonic()
            report = client.process(
                documents(), parameters={"source_lang": "en", "target_lang": "es"}, on_result=on_result
            )
            stream_seconds = time.monotonic() - stream_started
            faults.done.set()
            faults.join(timeout=stall_seconds + 5)
            if faults.replacement is not None:
                # The restarted replica serves again: every request of a short burst must go through.
                ready, why = client.health(timeout=10)
                burst = client.process(
                    [MediaDoc(image=good, name=f"after-{i}") for i in range(20)],
                    parameters={"source_lang": "en", "target_lang": "es"},
                    on_result=None,
                )
                results["after_restart"] = {
                    "ready": ready,
                    "why": why,
                    "burst_ok": burst.succeeded,
                    "burst_sent": burst.sent,
                }
                log(f"{name}: after the stream: ready={ready} ({why}); burst {burst.succeeded}/{burst.sent} ok")
            for failure in report.failures:
                outcome.setdefault(failure.name, "failed-by-name")
            by_kind: dict[str, dict[str, int]] = {}
            for doc_name, kind in sent_names.items():
                result = outcome.get(doc_name, "LOST")
                by_kind.setdefault(kind, {}).setdefault(result, 0)
                by_kind[kind][result] += 1
            causes: dict[str, int] = {}
            for failure in report.failures:
                key = f"[{failure.stage or '-'}] {failure.error[:100]}"
                causes[key] = causes.get(key, 0) + 1
            results.update(
                {
                    "documents": count,
                    "sent": report.sent,
                    "returned": report.returned,
                    "ok": report.succeeded,
                    "error": len(report.failures),
                    "lost": report.lost,
                    "not_sent": len(report.not_sent),
                    "unaccounted_by_name": sum(1 for doc_name in sent_names if doc_name not in outcome),
                    "hostile": sum(1 for kind in sent_names.values() if kind != "small"),
                    "stream_seconds": round(stream_seconds, 1),
                    "docs_per_second": round(report.sent / stream_seconds, 1),
                    "by_kind": by_kind,
                    "failure_causes": causes,
                    "faults": faults.events,
                }
            )
            if big_image:
                log(f"{name}: one 6000x6000 image through the Flow")
                results["big_image"] = big_image_run(client, memory)
            log(f"{name}: stopping the Flow")
            close_started = time.monotonic()
        results["shutdown_seconds"] = round(time.monotonic() - close_started, 1)
    finally:
        if faults is not None and faults.replacement is not None and faults.replacement.poll() is None:
            kill_tree([faults.replacement.pid], wait=5)
        memory.stop()
        time.sleep(0.5)
        leftovers = [pid for pid in memory.seen if pid != os.getpid() and alive(pid)]
        if leftovers:
            kill_tree(leftovers)
    results["peak_rss_mb"] = {process: round(value) for process, value in sorted(memory.peaks.items())}
    results["left_behind"] = leftovers
    print_phase(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=5000, help="documents of the volume phase")
    parser.add_argument("--real-docs", type=int, default=150, help="documents through flow.yml (0: skip)")
    parser.add_argument("--hostile", type=float, default=0.12, help="fraction of hostile documents")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of each request (volume phase), s")
    parser.add_argument("--real-timeout", type=float, default=120.0, help="deadline of each request, flow.yml, s")
    parser.add_argument("--stall-seconds", type=float, default=8.0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop sending after this long, per phase")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-big-image", action="store_true", help="skip the 6000x6000 image")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    phases = []
    with stop_signals(), tempfile.TemporaryDirectory() as folder:  # SIGTERM/SIGINT: every Flow process goes
        path, configs = light_flow(folder)
        phases.append(
            run_phase(
                "volume",
                path,
                args.docs,
                args.hostile,
                args.timeout,
                args.concurrency,
                args.max_seconds,
                kill="Decode/rep-1",
                kill_config=configs["Decode"],
                stall="Translate/rep-0",
                stall_seconds=args.stall_seconds,
            )
        )
        if args.real_docs or not args.no_big_image:
            phases.append(
                run_phase(
                    "flow.yml",
                    FLOW,
                    args.real_docs,
                    args.hostile,
                    args.real_timeout,
                    min(args.concurrency, 2),
                    args.max_seconds,
                    replicas={"TextDetector": 2},
                    big_image=not args.no_big_image,
                )
            )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(phases, file, indent=1)
    bad = [
        phase["phase"]
        for phase in phases
        if phase.get("lost") or phase.get("unaccounted_by_name") or phase.get("left_behind")
    ]
    if bad:
        print(f"\nFAILED: documents lost or processes left behind in {', '.join(bad)}")
    return 1 if bad else 0


def big_image_run(client: TransmodalClient, memory: Memory) -> dict:
    """One 6000x6000 page with text: the peak memory of each executor while it passes through."""
    image = Image.new("RGB", (6000, 6000), (235, 230, 220))
    draw = ImageDraw.Draw(image)
    from PIL import ImageFont

    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 100)
    except OSError:
        font = ImageFont.load_default()
    for row, word in enumerate(["OPEN DAILY", "FRESH BREAD", "NO PARKING", "EXIT ONLY"]):
        draw.text((600 + 900 * (row % 2), 800 + 1200 * row), word, fill=(20, 20, 20), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    before = dict(memory.peaks)
    memory.peaks.clear()  # peaks of this phase alone
    outcome = {}
    started = time.monotonic()
    report = client.process(
        [MediaDoc(image=buffer.getvalue(), name="6000x6000.png")],
        parameters={"source_lang": "en", "target_lang": "es"},
        timeout=600,
        on_result=lambda doc: outcome.update(error=doc.error, regions=len(doc.regions)),
    )
    time.sleep(2 * memory.interval)
    peaks = {name: round(value) for name, value in memory.peaks.items()}
    for name, value in before.items():  # keep the stream's peaks for the overall table
        memory.peaks[name] = max(value, memory.peaks.get(name, 0.0))
    return {
        "seconds": round(time.monotonic() - started, 1),
        "ok": report.ok,
        **outcome,
        "failures": [failure.error[:200] for failure in report.failures],
        "peak_rss_mb": peaks,
    }


def print_phase(results: dict) -> None:
    print(f"\n## Soak: {results['phase']}\n")
    columns = (
        "documents",
        "hostile",
        "sent",
        "returned",
        "ok",
        "error",
        "lost",
        "not_sent",
        "unaccounted_by_name",
        "stream_seconds",
        "docs_per_second",
        "shutdown_seconds",
    )
    print("| " + " | ".join(column.replace("_", " ") for column in columns) + " |")
    print("|" + "---|" * len(columns))
    print("| " + " | ".join(str(results.get(column, "-")) for column in columns) + " |")
    if results.get("faults"):
        print("\nfaults:", *results["faults"], sep="\n- ")
    if results.get("after_restart"):
        print(f"after the stream: {results['after_restart']}")
    print("\n| input | outcomes |\n|---|---|")
    for kind, outcomes in sorted(results.get("by_kind", {}).items()):
        print(f"| {kind} | {', '.join(f'{key} {value}' for key, value in sorted(outcomes.items()))} |")
    print("\n| failure | count |\n|---|---|")
    for cause, count in sorted(results.get("failure_causes", {}).items(), key=lambda item: -item[1]):
        print(f"| {cause.replace('|', '/')} | {count} |")
    print("\n| process | peak RSS MB (with its children) |\n|---|---|")
    for name, value in results.get("peak_rss_mb", {}).items():
        print(f"| {name} | {value} |")
    big = results.get("big_image")
    if big:
        error = big.get("error") or (big["failures"] or [None])[0]
        print(f"\n6000x6000 image: {big['seconds']} s, ok={big['ok']}, regions={big.get('regions')}, error={error}")
        print("\n| process | peak RSS MB during the 6000x6000 image |\n|---|---|")
        for name, value in sorted(big["peak_rss_mb"].items()):
            print(f"| {name} | {value} |")
    print(f"\nleft behind after shutdown: {results.get('left_behind') or 'none'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
