"""Stop signals for a process that started a Flow: SIGTERM, SIGINT or SIGHUP stop every process it started.

Jina runs each executor and the gateway as forked child processes. Python's default SIGTERM ends only the
parent: the children are re-parented to PID 1 and keep serving (measured: `kill` on `transmodal serve`
left four executors and the gateway answering `/status`). Inside `stop_signals()`:

1. the first signal sets `stop.requested` and calls the registered callbacks: the client stops sending,
   cancels what is in flight and reports it; `serve` stops blocking; the Flow is then closed as usual;
2. if the process has not exited `grace` seconds later, or on a second signal, every process started
   below it is sent SIGTERM, then SIGKILL, and the process exits with 128 + the signal number.

So a signal never leaves a process behind, and nothing waits longer than `grace` (+ 2 s for SIGKILL).
Children forked inside the block also get SIGTERM from the kernel if this process dies without running
any handler (SIGKILL, the OOM killer): PR_SET_PDEATHSIG, Linux only.
Processes started below this one are found in the process table (/proc on Linux), not through Jina.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_GRACE = float(os.environ.get("TRANSMODAL_STOP_GRACE", 10))


def descendants(pid: int | None = None) -> list[int]:
    """Every process below `pid` (default: this one), children first, from the process table."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in _proc_entries():
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; ppid follows the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def _proc_entries() -> list[str]:
    try:
        return [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # not Linux: fall back on psutil when it is there
        try:
            import psutil
        except ImportError:
            return []
        return [str(pid) for pid in psutil.pids()]


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
        return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def kill_tree(pids: list[int], wait: float = 2.0) -> list[int]:
    """SIGTERM `pids` (and whatever they started), then SIGKILL what is still alive after `wait` seconds.
    Returns the pids that had to be killed with SIGKILL."""
    everything = list(dict.fromkeys(pid for root in pids for pid in [root, *descendants(root)]))
    for pid in everything:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(alive(pid) for pid in everything):
        _reap()
        time.sleep(0.05)
    killed = [pid for pid in everything if alive(pid)]
    for pid in killed:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(alive(pid) for pid in killed):
        _reap()
        time.sleep(0.02)
    _reap()
    return killed


def _reap() -> None:
    """Collect exited children of this process so they do not stay as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Stop:
    """What `stop_signals()` yields: whether a stop was asked for, and hooks to react to it."""

    def __init__(self, grace: float):
        self.grace = grace
        self.requested = threading.Event()
        self.signum: int | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._owner = os.getpid()
        self._disarmed = False

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the signal handler: keep it short and thread-safe) when a stop is asked.
        Returns a function that removes it."""
        self._callbacks.append(callback)
        if self.requested.is_set():
            callback()
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._owner:
            # A forked child (a Jina pod) before it installed its own handlers: behave as the default would.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self.requested.is_set():  # a second signal: no more waiting
            self._hard_exit(f"second {signal.Signals(signum).name}: stopping now")
            return
        self.signum = signum
        self.requested.set()
        print(
            f"transmodal: {signal.Signals(signum).name} received, stopping (again to force)",
            file=sys.stderr,
            flush=True,
        )
        threading.Thread(target=self._watchdog, name="transmodal-stop-watchdog", daemon=True).start()
        for callback in list(self._callbacks):
            with contextlib.suppress(Exception):
                callback()

    def _watchdog(self) -> None:
        time.sleep(self.grace)
        if self._disarmed:
            return
        self._hard_exit(f"not stopped after {self.grace:g} s: killing the processes it started")

    def _hard_exit(self, why: str) -> None:
        with contextlib.suppress(Exception):
            print(f"transmodal: {why}", file=sys.stderr, flush=True)
        kill_tree(descendants(), wait=1.0)
        os._exit(self.exit_code if self.signum else 1)


_current: Stop | None = None


def current() -> Stop | None:
    """The active `stop_signals()` of this process, if any (the client hooks into it)."""
    return _current


_pdeathsig_owner: int | None = None


def _die_with_owner() -> None:
    """In a child forked by the process inside `stop_signals()`: get SIGTERM when that process dies, even by
    SIGKILL or the OOM killer, which no handler sees (Linux prctl PR_SET_PDEATHSIG). Grandchildren are left
    to their own parents."""
    if _pdeathsig_owner is None or os.getppid() != _pdeathsig_owner or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        return
    if os.getppid() != _pdeathsig_owner:  # the owner died between fork and prctl
        os.kill(os.getpid(), signal.SIGTERM)


_fork_hook_installed = False


@contextlib.contextmanager
def stop_signals(grace: float = DEFAULT_GRACE) -> Iterator[Stop]:
    """Handle SIGTERM, SIGINT and SIGHUP as described above while inside the block (main thread only)."""
    global _current
    if threading.current_thread() is not threading.main_thread():
        yield Stop(grace)
        return
    stop = Stop(grace)
    previous = {signum: signal.signal(signum, stop._handle) for signum in STOP_SIGNALS}
    outer, _current = _current, stop
    global _pdeathsig_owner, _fork_hook_installed
    outer_owner, _pdeathsig_owner = _pdeathsig_owner, os.getpid()
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_die_with_owner)
        _fork_hook_installed = True
    try:
        yield stop
    finally:
        _current = outer
        _pdeathsig_owner = outer_owner
        # Everything started inside has stopped: the watchdog has nothing left to do.
        stop._disarmed = not descendants()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
