"""Programs the offline backends run (Tesseract, Apertium, flite, espeak-ng): found once, or a clear error;
and ended cleanly where a backend keeps one running."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess

from transmodal.errors import ModelNotFoundError


def require_binary(binary: str, install: str) -> str:
    """The full path of `binary`, or ModelNotFoundError saying how to install it (`install`, e.g.
    "apt-get install flite"). Backends call it at start-up, so a missing engine fails fast, not per document."""
    path = shutil.which(binary)
    if path is None:
        raise ModelNotFoundError(f"{binary!r} not found: {install} (or run scripts/install-system.sh)")
    return path


def end_process(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Ends a helper program this process keeps running, started in a session of its own
    (`start_new_session=True`): its pipes are closed, so a program reading its input ends there (and a shell
    reaps the pipeline it runs); one that has not exited `grace` seconds later is killed with its whole
    process group."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):  # (input still buffered for a program that died)
                stream.close()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
