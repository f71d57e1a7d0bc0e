"""The durable reading log: an SQLite (WAL) file between the broker acks and the consumers.

A reading is acked to the broker only after `append` returned, and leaves the log only once
every registered consumer ("store", "rules") has committed past it, so neither a crash nor a
store outage loses it. Row ids only grow (AUTOINCREMENT), so a cursor is just the last id.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from devices.reading import Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (consumer TEXT PRIMARY KEY, upto INTEGER NOT NULL);
"""
DECODED_MAX = 16_384  # readings kept decoded by their log body, so consumers skip decoding


class LogError(Exception):
    """The log file cannot be read or written (disk full, corrupt, unwritable): retry later."""


def encode_reading(r: Reading) -> str:
    """Compact JSON text of a Reading, positional so the log stays small.

    orjson writes it; what orjson cannot write (integers beyond 64 bits or nesting deeper
    than 254 in event data) the standard library writes. Decoded readings hold only finite
    numbers (decode refuses the others), so orjson never has to replace one by null.
    Returned as str, a right-sized copy: kept as orjson returns them, the 16,384 bodies the
    log remembers grew the service's RSS by ~70 MB (a larger allocation behind each).
    """
    row = [
        r.site,
        r.device_id,
        r.channel,
        r.ts,
        r.received_at,
        r.seq,
        r.kind,
        r.zone,
        r.metrics if type(r.metrics) is dict else dict(r.metrics),
        r.event,
        r.data if type(r.data) is dict else dict(r.data),
        r.status,
    ]
    try:
        return orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        return json.dumps(row, separators=(",", ":"), allow_nan=False)


def decode_reading(body: str) -> Reading:
    """The Reading of `encode_reading` text."""
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError:  # what only the standard library wrote (big integers)
        fields = json.loads(body)
    site, dev, channel, ts, rx, seq, kind, zone, metrics, event, data, status = fields
    return Reading(site, dev, channel, ts, rx, seq, kind, zone, metrics, event, data, status)


class ReadingLog:
    """An append-only log of readings with one durable cursor per named consumer."""

    def __init__(self, path: Path, poll_s: float | None = None,
                 decoded_max: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # A reader in another process than the writer is never notified of appends: it looks
        # again every `poll_s` seconds while it waits (None: woken by this process's appends).
        self._poll_s = poll_s
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a returned append survives power loss too, not only kill -9; appends are
            # batched so the fsync per transaction is cheap.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise LogError(f"{path}: {e}") from e
        self._lock = threading.Lock()
        self._grown = threading.Condition(self._lock)  # notified on every append
        # Id arithmetic for depth(): the newest id ever given and each cursor, kept in memory
        # so a health probe never counts rows (nor waits for the writer's lock).
        seq = self._run("SELECT seq FROM sqlite_sequence WHERE name = 'readings'")
        self._last_id = int(seq[0][0]) if seq else 0
        self._cursors: dict[str, int] = {
            str(c): int(u) for c, u in self._run("SELECT consumer, upto FROM cursors")
        }
        self._size_at = 0.0  # monotonic seconds of the last size_bytes() measurement
        self._size = 0
        # Row id -> the Reading appended as that row, until every consumer has passed it (at
        # most DECODED_MAX): consumers read each row's body back from the file as before, and
        # only decoding it is skipped. Dropped once passed, so in steady running a few hundred
        # stay here, not DECODED_MAX for the collector's full passes to walk (api/heap.py).
        self._decoded: dict[int, Reading] = {}
        self._decoded_from = self._last_id + 1  # no lower id is in `_decoded`
        # 0: a writer whose rows another process reads (None: DECODED_MAX)
        self._decoded_max = DECODED_MAX if decoded_max is None else decoded_max
        # How many of the newest rows every consumer passed stay in the file (0: none):
        # api/site_handover.py reads what this log had taken when its instance died.
        self.keep = 0

    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise LogError(f"{self.path}: {e}") from e

    def register(self, consumer: str) -> None:
        """Make `consumer` a reader whose cursor holds rows back; it starts at the oldest row."""
        with self._lock:
            self._run("INSERT OR IGNORE INTO cursors VALUES (?, 0)", (consumer,))
            self._cursors.setdefault(consumer, 0)

    def append(self, readings: Sequence[Reading]) -> int:
        """Add readings in one transaction; durable when this returns. Returns the last id."""
        return self.append_encoded([(encode_reading(r), r) for r in readings])

    def append_encoded(self, items: Sequence[tuple[str, Reading]]) -> int:
        """`append` of readings already encoded by `encode_reading`, as (body, reading)."""
        if not items:
            return 0
        rows = [(body,) for body, _ in items]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT INTO readings (body) VALUES (?)", rows)
                    last = self._db.execute("SELECT max(id) FROM readings").fetchone()[0]
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise LogError(f"{self.path}: {e}") from e
            self._last_id = int(last)
            if self._decoded_max:
                # an append's ids are consecutive (one writer, AUTOINCREMENT): last - n + 1 ..
                self._decoded.update(zip(range(self._last_id - len(items) + 1, self._last_id + 1),
                                         (r for _, r in items), strict=True))
                self._forget(self._last_id - self._decoded_max)
            self._grown.notify_all()
            return int(last)

    def _forget(self, upto_id: int) -> None:
        """Drop decoded readings with ids <= `upto_id`, and those every consumer passed."""
        if self._cursors:
            upto_id = max(upto_id, min(self._cursors.values()))
        decoded = self._decoded
        for i in range(self._decoded_from, upto_id + 1):
            decoded.pop(i, None)
        self._decoded_from = max(self._decoded_from, upto_id + 1)

    def _cursor(self, consumer: str) -> int:
        row = self._run("SELECT upto FROM cursors WHERE consumer = ?", (consumer,))
        if not row:
            raise KeyError(f"consumer {consumer!r} is not registered")
        return int(row[0][0])

    def read(self, consumer: str, limit: int, timeout: float) -> list[tuple[int, Reading]]:
        """Up to `limit` rows after the consumer's committed cursor, oldest first.

        Waits up to `timeout` seconds for a row when there is none. Until `commit` moves the
        cursor, the same rows come back again.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                rows = self._run(
                    "SELECT id, body FROM readings WHERE id > ? ORDER BY id LIMIT ?",
                    (self._cursor(consumer), limit),
                )
                left = deadline - time.monotonic()
                if rows or left <= 0:
                    return [(int(i), self._decoded_row(i, body)) for i, body in rows]
                self._grown.wait(left if self._poll_s is None else min(left, self._poll_s))

    def _decoded_row(self, row_id: int, body: str) -> Reading:
        """The row's Reading: remembered from its append, or decoded and remembered (within
        the bound) for the next consumer, when another process appended it."""
        r = self._decoded.get(row_id)
        if r is None:
            r = decode_reading(body)
            if row_id >= self._decoded_from and len(self._decoded) < self._decoded_max:
                self._decoded[row_id] = r
        return r

    def commit(self, consumer: str, upto_id: int) -> None:
        """Durably move the consumer's cursor to `upto_id` and drop rows every consumer passed."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(
                        "UPDATE cursors SET upto = max(upto, ?) WHERE consumer = ?",
                        (upto_id, consumer),
                    )
                    self._db.execute(
                        "DELETE FROM readings WHERE id <= (SELECT min(upto) FROM cursors) - ?",
                        (self.keep,),
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise LogError(f"{self.path}: {e}") from e
            self._cursors[consumer] = max(self._cursors.get(consumer, 0), upto_id)
            self._forget(0)

    def note_newest(self, last_id: int) -> None:
        """The newest id appended by another process on this file, for `depth`."""
        self._last_id = max(self._last_id, last_id)

    @property
    def newest_id(self) -> int:
        """The newest id appended (by this process, or noted from another)."""
        return self._last_id

    def cursor(self, consumer: str) -> int:
        """The consumer's committed cursor as this process knows it (no query)."""
        return self._cursors.get(consumer, 0)

    def depth(self, consumer: str) -> int:
        """Rows the consumer has not committed yet: newest id minus its cursor, no query.

        Ids only grow and an append's ids are consecutive, so this is exact; it takes no
        lock, so a probe never waits for (or holds up) the writer.
        """
        return max(0, self._last_id - self._cursors.get(consumer, 0))

    def size_bytes(self, max_age_s: float = 1.0) -> int:
        """Bytes the log's pages in use take (free pages of drained rows not counted; the WAL
        file, bounded by checkpoints at ~4 MB, neither), measured at most every `max_age_s`
        seconds: three PRAGMAs under the lock, never a scan."""
        now = time.monotonic()
        if now - self._size_at < max_age_s:
            return self._size
        with self._lock:
            pages = self._run("PRAGMA page_count")[0][0] - self._run("PRAGMA freelist_count")[0][0]
            page = self._run("PRAGMA page_size")[0][0]
        self._size, self._size_at = int(pages) * int(page), now
        return self._size

    def consumers(self) -> list[str]:
        """The registered consumer names."""
        with self._lock:
            return [r[0] for r in self._run("SELECT consumer FROM cursors ORDER BY consumer")]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
