"""The dead-letter record: the last N rejected messages, kept for an operator to read."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

KEEP_PAYLOAD_BYTES = 200  # how much of a rejected payload an operator gets to see
KEEP_TOPIC_CHARS = 256


class DeadLetters:
    """A bounded, thread-safe ring of rejected messages (topic, reason, detail, first bytes)."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

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
            self._items.append(item)

    def items(self) -> list[dict[str, Any]]:
        """The kept records, newest first."""
        with self._lock:
            return list(reversed(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
