"""Walking a set in batches, for the evaluations of the trained models."""

from __future__ import annotations

from collections.abc import Iterator


def chunks(count: int, size: int) -> Iterator[slice]:
    """Slices of `size` items (the last one shorter) covering `count` items."""
    for start in range(0, count, size):
        yield slice(start, min(count, start + size))
