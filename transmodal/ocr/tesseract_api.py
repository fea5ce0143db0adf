"""Tesseract's C API (Debian's libtesseract5, which the `tesseract` program runs on) in kept worker processes:
the same recognition as the program, without starting a process and loading the language's model for every
call. A call of the program costs about 80 ms before it reads anything; a comic page makes four (the
detector's doubtful lines, the renderer's reading of the erased source areas and its two read-backs).

Why worker processes rather than the library in the executor's own process: Tesseract's LSTM runs OpenMP
threads, which make it about 4 times slower on small images unless `OMP_THREAD_LIMIT=1` is set when the
OpenMP runtime loads, and in an executor that runtime is already loaded, by torch (docarray imports it), and
shared by the library. A worker (`python -m transmodal.ocr.tesseract_api`) imports nothing heavier than
NumPy (not torch) and starts with the limit set; it keeps a Tesseract instance per language, page segmentation
mode and variables. A worker reads one request at a time; `TesseractWorkers` starts as many as threads read at once.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import typing
import weakref
from typing import BinaryIO

import numpy as np

from transmodal.binaries import end_process

LIBRARY = "libtesseract.so.5"
# The columns of Tesseract's TSV output (the program prints them as a header line, the API does not).
TSV_COLUMNS = (
    "level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width", "height", "conf",
    "text",
)  # fmt: skip
# The resolution the program assumes for an image that states none (a PNG without one): the API is told
# the same, so both read alike (the same words and confidences on 10 real comic pages and photos).
ASSUMED_DPI = 70
# How long a worker may take to start (Python, NumPy, the library) before it counts as failed.
START_TIMEOUT = 30.0


def load_library(name: str = LIBRARY) -> ctypes.CDLL:
    """libtesseract with the functions used here typed."""
    lib = ctypes.CDLL(name)
    handle, text, string = ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p
    signatures = {
        "TessBaseAPICreate": ([], handle),
        "TessBaseAPIInit3": ([handle, string, string], ctypes.c_int),
        "TessBaseAPISetPageSegMode": ([handle, ctypes.c_int], None),
        "TessBaseAPISetVariable": ([handle, string, string], ctypes.c_int),
        "TessBaseAPISetImage": ([handle, ctypes.c_void_p] + [ctypes.c_int] * 4, None),
        "TessBaseAPISetSourceResolution": ([handle, ctypes.c_int], None),
        "TessBaseAPIRecognize": ([handle, ctypes.c_void_p], ctypes.c_int),
        "TessBaseAPIGetTsvText": ([handle, ctypes.c_int], text),
        "TessBaseAPIClear": ([handle], None),
        "TessBaseAPIEnd": ([handle], None),
        "TessBaseAPIDelete": ([handle], None),
        "TessDeleteText": ([text], None),
        "TessMonitorCreate": ([], ctypes.c_void_p),
        "TessMonitorSetDeadlineMSecs": ([ctypes.c_void_p, ctypes.c_int], None),
        "TessMonitorDelete": ([ctypes.c_void_p], None),
    }
    for function_name, (arguments, result) in signatures.items():
        function = getattr(lib, function_name)
        function.argtypes, function.restype = arguments, result
    return lib


class TesseractAPI:
    """Tesseract instances of the library kept initialised, one per (language, psm, variables); used by one
    thread (a worker's)."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        self.instances: dict[tuple, int] = {}

    def _instance(self, language: str, psm: int, variables: tuple[tuple[str, str], ...]) -> int:
        key = (language, psm, variables)
        if key not in self.instances:
            instance = self.lib.TessBaseAPICreate()
            if self.lib.TessBaseAPIInit3(instance, None, language.encode()) != 0:
                self.lib.TessBaseAPIDelete(instance)
                raise RuntimeError(f"Tesseract could not load the language data {language!r}")
            self.lib.TessBaseAPISetPageSegMode(instance, psm)
            for name, value in variables:
                if not self.lib.TessBaseAPISetVariable(instance, name.encode(), value.encode()):
                    self.lib.TessBaseAPIEnd(instance)
                    self.lib.TessBaseAPIDelete(instance)
                    raise ValueError(f"Tesseract has no variable {name!r}")
            self.instances[key] = instance
        return self.instances[key]

    def rows(
        self, image: np.ndarray, language: str, psm: int, variables: tuple[tuple[str, str], ...], timeout: float
    ) -> list[dict]:
        """Tesseract's TSV rows for the grey or RGB uint8 `image`, as dicts by column (`TSV_COLUMNS`), page 1;
        rows of every level (level 5: words)."""
        pixels = np.ascontiguousarray(image, dtype=np.uint8)
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        height, width = pixels.shape[:2]
        instance = self._instance(language, psm, variables)
        monitor = self.lib.TessMonitorCreate()
        text = None
        try:
            self.lib.TessBaseAPISetImage(instance, pixels.ctypes.data, width, height, channels, pixels.strides[0])
            self.lib.TessBaseAPISetSourceResolution(instance, ASSUMED_DPI)
            self.lib.TessMonitorSetDeadlineMSecs(monitor, max(1, int(timeout * 1000)))
            if self.lib.TessBaseAPIRecognize(instance, monitor) != 0:
                raise TimeoutError(f"Tesseract stopped reading a {width}x{height} image (its limit: {timeout:.0f} s)")
            text = self.lib.TessBaseAPIGetTsvText(instance, 0)
            return [dict(zip(TSV_COLUMNS, row.split("\t"))) for row in ctypes.string_at(text).decode().splitlines()]
        finally:
            if text:
                self.lib.TessDeleteText(text)
            self.lib.TessMonitorDelete(monitor)
            self.lib.TessBaseAPIClear(instance)

    def close(self) -> None:
        for instance in self.instances.values():
            self.lib.TessBaseAPIEnd(instance)
            self.lib.TessBaseAPIDelete(instance)
        self.instances.clear()


# The messages between engine and worker: a length, then a pickle (both ends are this module).
def _send(stream: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> object | None:
    head = stream.read(8)
    if len(head) < 8:
        return None  # the other end closed
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """A worker's loop: each request (language, psm, variables, timeout, images) is answered with ("rows", a
    list of rows per image) or ("error", a message), until the engine closes its end."""
    api = TesseractAPI(load_library())
    try:
        _send(answers, ("ready", os.getpid()))
        while (request := _receive(requests)) is not None:
            language, psm, variables, timeout, images = typing.cast(tuple, request)
            try:
                answer: tuple = ("rows", [api.rows(image, language, psm, variables, timeout) for image in images])
            except Exception as error:  # noqa: BLE001  # (the engine raises it as its own error)
                answer = ("error", f"{type(error).__name__}: {error}")
            _send(answers, answer)
    finally:
        api.close()


class TesseractFailure(RuntimeError):
    """Tesseract reported an error on a request (the worker itself is fine)."""


class _Worker:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transmodal.ocr.tesseract_api"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # (Tesseract's notes on each image: "Estimating resolution as ...")
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            start_new_session=True,  # its own process group, for `end_process`
        )
        assert self.process.stdout is not None
        if not select.select([self.process.stdout], [], [], START_TIMEOUT)[0] or _receive(self.process.stdout) is None:
            self.close()
            raise RuntimeError(f"the Tesseract worker did not start ({LIBRARY} missing?)")

    def ask(self, request: tuple, timeout: float) -> list[list[dict]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        _send(self.process.stdin, request)
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            raise TimeoutError(f"Tesseract did not answer in {timeout:.0f} s")
        answer = _receive(self.process.stdout)
        if answer is None:
            raise RuntimeError(f"the Tesseract worker stopped (exit status {self.process.poll()})")
        kind, content = typing.cast(tuple, answer)
        if kind == "error":
            raise TesseractFailure(f"Tesseract failed: {content}")
        return content

    def close(self) -> None:
        end_process(self.process)


class TesseractWorkers:
    """Worker processes for one engine: started when first needed, as many as threads read at once, kept
    until `close` (or this process's exit). A worker found ended is replaced; one that fails or overruns a
    request is stopped (the request fails), and the next call starts another."""

    def __init__(self):
        self.idle: list[_Worker] = []
        self.busy: set[_Worker] = set()
        self.lock = threading.Lock()
        # Closed when the engine goes (or at this process's exit), without the finalizer keeping it alive.
        weakref.finalize(self, _close_workers, self.idle, self.busy, self.lock)

    def rows(
        self,
        images: list[np.ndarray],
        language: str,
        psm: int,
        variables: tuple[tuple[str, str], ...],
        timeout: float,
    ) -> list[list[dict]]:
        """TSV rows per image (`TesseractAPI.rows`); `timeout` for each image."""
        worker, dead = None, []
        with self.lock:
            while self.idle and worker is None:
                worker = self.idle.pop()
                if worker.process.poll() is not None:  # (ended while idle: killed, out of memory)
                    dead.append(worker)
                    worker = None
        for ended in dead:
            ended.close()
        worker = worker or _Worker()
        with self.lock:
            self.busy.add(worker)
        healthy = False
        try:
            rows = worker.ask((language, psm, variables, timeout, images), timeout * max(1, len(images)) + 5)
            healthy = True
            return rows
        except TesseractFailure:
            healthy = True  # (Tesseract's own error, such as missing language data: the worker is fine)
            raise
        finally:
            with self.lock:
                self.busy.discard(worker)
                if healthy:
                    self.idle.append(worker)
            if not healthy:
                worker.close()

    def close(self) -> None:
        _close_workers(self.idle, self.busy, self.lock)


def _close_workers(idle: list[_Worker], busy: set[_Worker], lock: threading.Lock) -> None:
    with lock:
        workers = idle + list(busy)
        idle.clear()
        busy.clear()
    for worker in workers:
        worker.close()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
