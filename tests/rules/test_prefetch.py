"""The backtest's read-ahead keeps order, raises the reader's error and stops when closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rules.engine.prefetch import prefetched


def test_items_come_through_in_order_across_chunks() -> None:
    assert list(prefetched(range(10_007), chunk=100, depth=2)) == list(range(10_007))
    assert list(prefetched([])) == []


def test_an_error_in_the_reader_is_raised_to_the_consumer_after_what_came_before() -> None:
    def broken() -> Iterator[int]:
        yield from range(5)
        raise OSError("store went away")

    got: list[int] = []
    with pytest.raises(OSError, match="store went away"):
        for x in prefetched(broken(), chunk=2):
            got.append(x)
    assert got == [0, 1, 2, 3]  # the last partial chunk is lost with the error


def test_closing_early_stops_the_reader_and_runs_the_generators_cleanup() -> None:
    closed: list[bool] = []

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    stream = prefetched(endless(), chunk=10, depth=2)
    assert [next(stream) for _ in range(25)] == list(range(25))
    stream.close()
    assert closed == [True]
