"""The durable reading log: an SQLite (WAL) file between the broker acks and the consumers.

A reading is acked to the broker only after `append` returned, and leaves the log only once
every registered consumer ("store", "rules") has committed past it, so neither a crash nor a
store outage loses it. Row ids only grow (AUTOINCREMENT), so a cursor is just the last id.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devices.reading import Reading

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (consumer TEXT PRIMARY KEY, upto INTEGER NOT NULL);
"""
DECODED_MAX = 16_384  # readings kept decoded by their log text, so consumers skip json.loads


class LogError(Exception):
    """The log file cannot be read or written (disk full, corrupt, unwritable): retry later."""


def encode_reading(r: Reading) -> str:
    """Compact JSON text of a Reading (positional, so the log stays small)."""
    return json.dumps(
        [
            r.site,
            r.device_id,
            r.channel,
            r.ts,
            r.received_at,
            r.seq,
            r.kind,
            r.zone,
            dict(r.metrics),
            r.event,
            dict(r.data),
            r.status,
        ],
        separators=(",", ":"),
        allow_nan=False,
    )


def decode_reading(text: str) -> Reading:
    """The Reading of `encode_reading` text."""
    site, dev, channel, ts, rx, seq, kind, zone, metrics, event, data, status = json.loads(text)
    return Reading(site, dev, channel, ts, rx, seq, kind, zone, metrics, event, data, status)


class ReadingLog:
    """An append-only log of readings with one durable cursor per named consumer."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
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
        # Log text -> the Reading it encodes, for recent appends: each consumer reads a row's
        # text back from the file as before, and only decoding it is skipped when the same text
        # was just written. Keyed by the text itself, so a hit is exactly what decoding gives.
        self._decoded: dict[str, Reading] = {}

    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise LogError(f"{self.path}: {e}") from e

    def register(self, consumer: str) -> None:
        """Make `consumer` a reader whose cursor holds rows back; it starts at the oldest row."""
        with self._lock:
            self._run("INSERT OR IGNORE INTO cursors VALUES (?, 0)", (consumer,))

    def append(self, readings: Sequence[Reading]) -> int:
        """Add readings in one transaction; durable when this returns. Returns the last id."""
        if not readings:
            return 0
        rows = [(encode_reading(r),) for r in readings]
        with self._lock:
            self._remember(rows, readings)
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
            self._grown.notify_all()
            return int(last)

    def _remember(self, rows: list[tuple[str]], readings: Sequence[Reading]) -> None:
        decoded = self._decoded
        for (text,), r in zip(rows, readings, strict=True):
            decoded[text] = r
        if len(decoded) > DECODED_MAX:  # oldest first: dicts keep insertion order
            for text in list(itertools.islice(decoded, len(decoded) - DECODED_MAX)):
                del decoded[text]

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
                    decoded = self._decoded
                    return [(int(i), decoded.get(body) or decode_reading(body)) for i, body in rows]
                self._grown.wait(left)

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
                        "DELETE FROM readings WHERE id <= (SELECT min(upto) FROM cursors)"
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise LogError(f"{self.path}: {e}") from e

    def depth(self, consumer: str) -> int:
        """Rows the consumer has not committed yet."""
        with self._lock:
            rows = self._run(
                "SELECT count(*) FROM readings WHERE id > ?", (self._cursor(consumer),)
            )
            return int(rows[0][0])

    def consumers(self) -> list[str]:
        """The registered consumer names."""
        with self._lock:
            return [r[0] for r in self._run("SELECT consumer FROM cursors ORDER BY consumer")]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
