"""The incident service's transactions: one write retried past racers and locks, reads,
and the subscribers told of every committed change (the SSE stream, the notifier)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from rules.db.database import WRITE
from rules.incidents.changefeed import hold_feed_lock
from rules.incidents.record import IncidentStoreUnavailable, TimelineEntry

log = logging.getLogger("rules.incidents.service")
T = TypeVar("T")
Entries = list[TimelineEntry]
Subscriber = Callable[[Entries], None]

_ATTEMPTS = 8  # tries of one write: a racer's insert or a lock can each cost one
_LOCKED_BACKOFF_S = 0.02  # seconds, times the attempt number, before retrying a locked write


class Transactions:
    """Write and read transactions on the incident database, and change subscribers."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._subscribers: list[Subscriber] = []
        self._subscribers_lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback` with the new timeline entries after every commit that wrote some."""
        with self._subscribers_lock:
            self._subscribers.append(callback)

    def _write(self, work: Callable[[sa.Connection], Entries]) -> Entries:
        def wrapped(conn: sa.Connection) -> tuple[Entries, Entries]:
            entries = work(conn)
            return entries, entries

        return self._write_returning(wrapped)

    def _write_returning(self, work: Callable[[sa.Connection], tuple[T, Entries]]) -> T:
        """Run `work` in one write transaction, retried when a racer or a lock got in the way."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(**WRITE)
                    with conn.begin():
                        hold_feed_lock(conn)  # first, before any row lock: no deadlock on it
                        result, entries = work(conn)
            except sa.exc.IntegrityError:
                # Another writer opened the same (rule, device) first: the retry finds its row.
                if attempt == _ATTEMPTS:
                    raise
                continue
            except sa.exc.OperationalError as exc:
                if attempt < _ATTEMPTS and "locked" in str(exc.orig):
                    time.sleep(_LOCKED_BACKOFF_S * attempt)
                    continue
                raise IncidentStoreUnavailable(str(exc.orig)) from exc
            self._notify(entries)
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    def write_once(self, work: Callable[[sa.Connection], tuple[T, Entries]]) -> T:
        """Run `work` in one write transaction, once: a lock, a racer or an outage raises the
        driver's error to the caller, who decides (the rules worker's life-safety commit falls
        back to its two-step path). Publishes the entries after the commit."""
        with self._engine.connect() as conn:
            conn.execution_options(**WRITE)
            with conn.begin():
                hold_feed_lock(conn)
                result, entries = work(conn)
        self._notify(entries)
        return result

    def _read(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            with self._engine.connect() as conn:
                return work(conn)
        except sa.exc.OperationalError as exc:
            raise IncidentStoreUnavailable(str(exc.orig)) from exc

    def _notify(self, entries: Entries) -> None:
        if not entries:
            return
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(list(entries))
            except Exception:  # one broken listener must not undo a committed change
                log.exception("incident subscriber %r failed", callback)
