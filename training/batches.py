"""Walking a set in batches, and making training batches in worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def chunks(count: int, size: int) -> Iterator[slice]:
    """Slices of `size` items (the last one shorter) covering `count` items."""
    for start in range(0, count, size):
        yield slice(start, min(count, start + size))


def _produce(make: Callable[[np.random.Generator], Any], seed: int, worker: int, queue) -> None:
    rng = np.random.default_rng([seed, worker])
    while True:
        queue.put(make(rng))


class Producers:
    """Endless batches `make(rng)` made by `workers` processes, each with its own generator seeded by
    (seed, worker index), for a GPU that one Python process cannot keep fed with generated images.

    The batches arrive in whichever order the workers finish them, so a run with workers is repeatable
    only up to that order. `make` must be picklable (a module-level function or a functools.partial of
    one): the workers are spawned, not forked, since the trainer may already hold a CUDA context. Use as a
    context manager; leaving it ends the workers."""

    def __init__(self, make: Callable[[np.random.Generator], Any], seed: int, workers: int, depth: int = 2):
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=max(1, depth * workers))
        self.processes = [
            context.Process(target=_produce, args=(make, seed, index, self.queue), daemon=True)
            for index in range(workers)
        ]

    def __enter__(self) -> Producers:
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, *_exception) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=10)
        self.queue.cancel_join_thread()
        self.queue.close()

    def next(self, timeout: float = 300.0) -> Any:
        """The next batch made; a worker that ended (an error in `make`, printed by the worker) surfaces
        here as a clear error rather than a wait for ever."""
        import queue as queues

        for process in self.processes:
            if process.exitcode is not None:
                raise RuntimeError(
                    f"a batch-making worker ended with exit code {process.exitcode} (its error is above)"
                )
        try:
            return self.queue.get(timeout=timeout)
        except queues.Empty:
            raise RuntimeError(f"no training batch within {timeout:.0f} s from {len(self.processes)} workers") from None
