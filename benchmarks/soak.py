"""Soak and fault harness: a long stream with hostile inputs through the real Flow, a replica killed and
restarted, an executor stalled; then one 6000x6000 image; then shutdown. Loopback only, bounded.

    .venv/bin/python benchmarks/soak.py [--docs 5000] [--hostile 0.12] [--max-seconds 1200] [--json out.json]

Prints sent / returned / ok / error / lost / not sent, the failures by kind, the peak memory of every
process of the Flow, and any process left behind after shutdown. Exit status 1 when a document is lost or
a process is left behind.

The stream: small images (most blank or with one word, 96x48), and `--hostile` of the documents bad on
purpose: corrupt, truncated, empty, decompression-bomb and 10000x1 images, unknown and unencodable
(lone surrogate) languages, a missing image. Faults, at fractions of the stream: TextDetector/rep-1
SIGKILLed at 25 % and started again on its port (`jina executor`) a few seconds later; TextTranslator
SIGSTOPped at 55 % for `--stall-seconds` (longer than the request deadline `--timeout`), then SIGCONT.
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

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self.watched[name] = pid

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
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
    """Kills and restarts a TextDetector replica, stalls the TextTranslator, when the stream gets there."""

    def __init__(self, flow, progress, total: int, stall_seconds: float, memory: Memory, log):
        super().__init__(daemon=True)
        self.processes = executor_processes(flow)
        self.progress = progress
        self.total = total
        self.stall_seconds = stall_seconds
        self.memory = memory
        self.log = log
        self.replacement: subprocess.Popen | None = None
        self.events: list[str] = []
        self.done = threading.Event()

    def wait_for(self, fraction: float) -> bool:
        while self.progress() < fraction * self.total:
            if self.done.wait(0.1):
                return False
        return True

    def run(self) -> None:
        victim = self.processes.get("TextDetector/rep-1")
        if victim and self.wait_for(0.25):
            os.kill(victim["pid"], signal.SIGKILL)
            self.note(f"SIGKILL TextDetector/rep-1 (pid {victim['pid']}) at document {self.progress()}")
            time.sleep(3)
            env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
            self.replacement = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jina",
                    "executor",
                    "--uses",
                    DETECTOR_CONFIG,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(victim["ports"][0]),
                    "--name",
                    "TextDetector/rep-1",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.memory.watch("TextDetector/rep-1 (restarted)", self.replacement.pid)
            self.note(
                f"restarted TextDetector/rep-1 on port {victim['ports'][0]} (pid {self.replacement.pid}) "
                f"at document {self.progress()}"
            )
        stalled = self.processes.get("TextTranslator/rep-0")
        if stalled and self.wait_for(0.55):
            os.kill(stalled["pid"], signal.SIGSTOP)
            self.note(f"SIGSTOP TextTranslator/rep-0 for {self.stall_seconds:g} s at document {self.progress()}")
            time.sleep(self.stall_seconds)
            os.kill(stalled["pid"], signal.SIGCONT)
            self.note(f"SIGCONT TextTranslator/rep-0 at document {self.progress()}")

    def note(self, event: str) -> None:
        self.events.append(event)
        self.log(event)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--hostile", type=float, default=0.12, help="fraction of hostile documents")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each request, seconds")
    parser.add_argument("--stall-seconds", type=float, default=15.0)
    parser.add_argument("--max-seconds", type=float, default=1500.0, help="stop sending after this long")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-big-image", action="store_true", help="skip the 6000x6000 image")
    parser.add_argument("--flow", default=FLOW)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    rng = random.Random(10)
    images = small_images()
    good = images[1]
    port = free_port()  # gRPC only, on loopback
    flow = load_flow(args.flow, ports=[port], host="127.0.0.1", replicas={"TextDetector": 2})
    memory = Memory()
    memory.watch("client (this process)", os.getpid())
    sent_names: dict[str, str] = {}  # name -> kind
    outcome: dict[str, str] = {}
    counter = {"yielded": 0}
    started = time.monotonic()
    results: dict = {}
    leftovers: list[int] = []
    faults = None
    replacement_pid = None
    close_started = time.monotonic()
    stop = stop_signals()
    stop.__enter__()  # SIGTERM/SIGINT: the Flow and the restarted replica go too
    try:
        log(f"starting {args.flow} (TextDetector x2) on 127.0.0.1:{port}")
        with running(flow):
            flow_pids = executor_processes(flow)
            for name, process in flow_pids.items():
                memory.watch(name, process["pid"])
            memory.start()
            log(f"ready in {time.monotonic() - started:.1f} s; streaming {args.docs} documents")
            faults = Faults(flow, lambda: counter["yielded"], args.docs, args.stall_seconds, memory, log)
            faults.start()
            deadline = time.monotonic() + args.max_seconds

            def documents():
                for index in range(args.docs):
                    if time.monotonic() > deadline:
                        log(f"time budget of {args.max_seconds:g} s spent: stopping at document {index}")
                        return
                    if rng.random() < args.hostile:
                        kind, doc = hostile(index, good)
                    else:
                        kind, doc = "small", MediaDoc(image=images[index % len(images)])
                    doc.name = f"{index:05d}-{kind}"
                    sent_names[doc.name] = kind
                    counter["yielded"] += 1
                    if counter["yielded"] % 500 == 0:
                        log(f"{counter['yielded']} documents sent")
                    yield doc

            def on_result(doc: MediaDoc) -> None:
                outcome[doc.name] = "error" if doc.failed else "ok"

            stream_started = time.monotonic()
            client = TransmodalClient(f"grpc://127.0.0.1:{port}", timeout=args.timeout, concurrency=args.concurrency)
            report = client.process(
                documents(), parameters={"source_lang": "en", "target_lang": "es"}, on_result=on_result
            )
            stream_seconds = time.monotonic() - stream_started
            faults.done.set()
            faults.join(timeout=args.stall_seconds + 5)
            if faults.replacement is not None:
                replacement_pid = faults.replacement.pid
                ready, why = client.health(timeout=5)
                log(f"after the stream: Flow ready={ready} ({why})")

            # Accounting by name, independent of the report's own counters.
            for failure in report.failures:
                outcome.setdefault(failure.name, "failed-by-name")
            by_kind: dict[str, dict[str, int]] = {}
            for name, kind in sent_names.items():
                by_kind.setdefault(kind, {}).setdefault(outcome.get(name, "LOST"), 0)
                by_kind[kind][outcome.get(name, "LOST")] += 1
            causes: dict[str, int] = {}
            for failure in report.failures:
                key = f"[{failure.stage or '-'}] {failure.error[:90]}"
                causes[key] = causes.get(key, 0) + 1

            big = None
            if not args.no_big_image:
                log("one 6000x6000 image through the Flow")
                big = big_image_run(client, memory)

            results = {
                "documents": args.docs,
                "sent": report.sent,
                "returned": report.returned,
                "ok": report.succeeded,
                "error": len(report.failures),
                "lost": report.lost,
                "not_sent": len(report.not_sent),
                "unaccounted_by_name": sum(1 for name in sent_names if name not in outcome),
                "hostile": sum(1 for kind in sent_names.values() if kind != "small"),
                "stream_seconds": round(stream_seconds, 1),
                "unreachable_seen": sorted(report.unreachable),
                "by_kind": by_kind,
                "failure_causes": causes,
                "faults": faults.events,
                "big_image": big,
            }
            log("stopping the Flow")
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
        stop.__exit__(None, None, None)
    results["peak_rss_mb"] = {name: round(value) for name, value in sorted(memory.peaks.items())}
    results["left_behind"] = leftovers
    results["restarted_replica_pid"] = replacement_pid
    print_table(results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)
    return 1 if results.get("lost") or results.get("unaccounted_by_name") or leftovers else 0


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


def print_table(results: dict) -> None:
    print("\n## Soak\n")
    print("| documents | hostile | sent | returned | ok | error | lost | not sent | unaccounted by name | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        "| {documents} | {hostile} | {sent} | {returned} | {ok} | {error} | {lost} | {not_sent} | "
        "{unaccounted_by_name} | {stream_seconds} |".format(
            **{
                key: results.get(key, "-")
                for key in (
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
                )
            }
        )
    )
    print("\nfaults:", *results.get("faults", []), sep="\n- ")
    print("\n| kind | outcomes |\n|---|---|")
    for kind, outcomes in sorted(results.get("by_kind", {}).items()):
        print(f"| {kind} | {', '.join(f'{key} {value}' for key, value in sorted(outcomes.items()))} |")
    print("\n| failures | count |\n|---|---|")
    for cause, count in sorted(results.get("failure_causes", {}).items(), key=lambda item: -item[1]):
        print(f"| {cause.replace('|', '/')} | {count} |")
    print("\n| process | peak RSS (MB), stream + big image |\n|---|---|")
    for name, value in results.get("peak_rss_mb", {}).items():
        print(f"| {name} | {value} |")
    big = results.get("big_image")
    if big:
        print(
            f"\n6000x6000 image: {big['seconds']} s, ok={big['ok']}, regions={big.get('regions')}, "
            f"error={big.get('error') or (big['failures'] or [None])[0]}"
        )
        print("| process | peak RSS (MB) during the 6000x6000 image |\n|---|---|")
        for name, value in sorted(big["peak_rss_mb"].items()):
            print(f"| {name} | {value} |")
    print(
        f"\nshutdown: {results.get('shutdown_seconds')} s; left behind after shutdown: "
        f"{results.get('left_behind') or 'none'}"
    )


if __name__ == "__main__":
    sys.exit(main())
