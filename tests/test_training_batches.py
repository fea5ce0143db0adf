"""Training batches made in worker processes (training.batches.Producers)."""

import functools
import time

import numpy as np
import pytest

from training.batches import Producers


def _draw(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(0, 1 << 30, size)


def _fail(rng: np.random.Generator) -> None:
    raise ValueError("a broken batch maker")


def test_workers_make_distinct_batches_from_their_own_seeds():
    firsts = {tuple(np.random.default_rng([3, worker]).integers(0, 1 << 30, 4)) for worker in range(2)}
    batches: list[tuple] = []
    with Producers(functools.partial(_draw, size=4), seed=3, workers=2) as producers:
        deadline = time.monotonic() + 60
        while not firsts <= set(batches) and time.monotonic() < deadline:  # until both workers have spoken
            batches.append(tuple(producers.next(timeout=60)))
    assert firsts <= set(batches)  # each worker's stream starts from (seed, worker)
    assert len(set(batches)) == len(batches)  # no worker repeats another's stream


def test_a_worker_that_fails_is_an_error_not_a_wait():
    with Producers(_fail, seed=0, workers=1) as producers:
        with pytest.raises(RuntimeError, match="worker ended|no training batch"):
            producers.next(timeout=60)
