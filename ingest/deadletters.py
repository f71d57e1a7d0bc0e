"""The dead-letter record: the last N rejected messages, kept for an operator to read.

With a file it is a small SQLite database beside the durable log, so the record survives a
restart; without one (tests, tools) a ring in memory. Either way it is bounded: past `maxlen`
the oldest record is dropped first and counted (`dropped`, kept in the file too)."""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

KEEP_PAYLOAD_BYTES = 200  # how much of a rejected payload an operator gets to see
KEEP_TOPIC_CHARS = 256
_COLUMNS = ("at", "topic", "reason", "detail", "payload_head", "payload_bytes")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    payload_head TEXT NOT NULL, payload_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deadletter_counts (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class DeadLetters:
    """A bounded, thread-safe record of rejected messages (topic, reason, detail, first bytes)."""

    def __init__(self, maxlen: int, path: Path | None = None) -> None:
        self._maxlen = max(1, maxlen)
        self._items: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.dropped = 0  # records pushed out by newer ones since the record began
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute(
                "SELECT value FROM deadletter_counts WHERE name = 'dropped'"
            ).fetchone()
            self.dropped = int(row[0]) if row else 0
            self._trim()  # a smaller limit than last time applies at once

    def add(self, topic: str, reason: str, detail: str, payload: bytes, at: float) -> None:
        """Record one rejected message; the oldest record falls out when full."""
        head = payload[:KEEP_PAYLOAD_BYTES]
        text = head.decode("utf-8", errors="backslashreplace")  # text stays readable, bytes as \xNN
        item = {
            "at": at,
            "topic": topic[:KEEP_TOPIC_CHARS],
            "reason": reason,
            "detail": detail[:500],
            "payload_head": text,
            "payload_bytes": len(payload),
        }
        with self._lock:
            if self._db is None:
                self._items.append(item)
                while len(self._items) > self._maxlen:
                    self._items.popleft()
                    self.dropped += 1
                return
            self._db.execute(
                f"INSERT INTO deadletters ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                tuple(item[c] for c in _COLUMNS),
            )
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest rows past the limit and count them (caller holds the lock)."""
        assert self._db is not None
        with self._db:  # one transaction: the rows go and the count rises together
            self._db.execute("BEGIN")
            gone = self._db.execute(
                "DELETE FROM deadletters WHERE id <= (SELECT MAX(id) FROM deadletters) - ?",
                (self._maxlen,),
            ).rowcount
            if gone > 0:
                self.dropped += gone
                self._db.execute(
                    "INSERT INTO deadletter_counts (name, value) VALUES ('dropped', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (self.dropped,),
                )

    def items(self) -> list[dict[str, Any]]:
        """The kept records, newest first."""
        with self._lock:
            if self._db is None:
                return list(reversed(self._items))
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM deadletters ORDER BY id DESC"
            ).fetchall()
        return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]

    def close(self) -> None:
        """Close the file (the in-memory form has nothing to close)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._items)
            return int(self._db.execute("SELECT COUNT(*) FROM deadletters").fetchone()[0])
