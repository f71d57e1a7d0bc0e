"""Reading a stream on a second thread while the first evaluates it (bounded, in order)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
CHUNK = 2_000  # items handed over per queue entry: one lock round trip per chunk, not per item
DEPTH = 8  # chunks read ahead at most (the queue's bound): ~16,000 readings of memory
_END = object()


def prefetched(items: Iterable[T], chunk: int = CHUNK, depth: int = DEPTH) -> Iterator[T]:
    """`items` in the same order, produced on a thread of its own.

    A store's reader spends much of its time in C with the GIL released (SQLite stepping a
    sort, a socket read), so reading ahead overlaps with evaluating on a second core. An
    exception in the reader is raised here; closing this iterator early stops the reader.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: object) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            batch: list[T] = []
            for item in items:
                batch.append(item)
                if len(batch) >= chunk:
                    if not put(batch):
                        return
                    batch = []
            if batch and not put(batch):
                return
            put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            put(e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (a store's cursor) runs on this thread

    reader = threading.Thread(target=produce, name="backtest-reader", daemon=True)
    reader.start()
    try:
        while True:
            entry = q.get()
            if entry is _END:
                return
            if isinstance(entry, BaseException):
                raise entry
            yield from entry  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(5)
