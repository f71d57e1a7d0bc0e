"""The signal gate: where disablements hide a signal, walk tests mark an alert, alerts join
a group and tickets learn their maintenance window, inside the incident's own transaction.

Checked per signal, never per reading: the evaluator is untouched, and a signal is rare.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from rules.db.schema import disablements, walk_tests
from rules.engine.models import Rule
from rules.engine.signals import Signal
from rules.incidents import rows
from rules.incidents.record import TimelineEntry
from rules.operations import grouping, seen, windows
from rules.operations.targets import Target

Entries = list[TimelineEntry]
REFRESH_S = 1.0  # seconds an in-memory list of what is in force is trusted before a re-read


class _InForce:
    """The disablements (or tests) in force, read at most once per REFRESH_S, so a signal
    costs no query when nothing is in force. This process's changes invalidate it at once;
    another process's (the CLI) are seen within REFRESH_S."""

    def __init__(self, table: sa.Table) -> None:
        self._table = table
        self._rows: list[tuple[int, Target, datetime]] = []
        self._loaded = float("-inf")  # time.monotonic() of the last read
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read again at the next signal."""
        self._loaded = float("-inf")

    def ids(self, conn: sa.Connection, signal: Signal, at: datetime) -> list[int]:
        """Ids of those in force at `at` whose target covers the signal's device."""
        with self._lock:
            if time.monotonic() - self._loaded > REFRESH_S:
                c = self._table.c
                found = conn.execute(sa.select(c.id, c.site, c.zone, c.device_id, c.until)
                                     .where(c.ended_at.is_(None)).order_by(c.id)).all()
                self._rows = [(r.id, Target(r.site, r.zone, r.device_id), r.until)
                              for r in found]
                self._loaded = time.monotonic()
            rows = self._rows
        return [i for i, target, until in rows
                if until > at and target.covers(signal.site, signal.zone, signal.device_id)]


class OperationsGate:
    """The `SignalGate` the incident service calls (rules/incidents/gate.py).

    Overlaps: a device under two disablements is hidden by both, and each lists the signal; it
    is heard again only when the last one ends. A walk test inside a disabled area: the
    disablement wins (no alert, not even a test one), but the test still records the device's
    first alarm, so the detector counts as tested.
    """

    def __init__(self) -> None:
        self._disablements = _InForce(disablements)
        self._tests = _InForce(walk_tests)

    def invalidate(self) -> None:
        """Something was disabled, tested or ended: read what is in force again."""
        self._disablements.invalidate()
        self._tests.invalidate()

    def fire(self, conn: sa.Connection, signal: Signal, rule: Rule, at: datetime,
             open_: Callable[[], Entries]) -> Entries:
        """Hide the signal under a disablement, or open it (as a test alert inside a test)."""
        hiding = self._disablements.ids(conn, signal, at)
        testing = self._tests.ids(conn, signal, at)
        for test_id in testing:
            seen.record(conn, "test", test_id, signal, at)
        if hiding:
            for disablement_id in hiding:
                seen.record(conn, "disablement", disablement_id, signal, at)
            return []
        entries = open_()
        if testing:
            _mark_tests(conn, entries, testing[0])
        return entries + self.opened(conn, entries, at)

    def clear(self, conn: sa.Connection, signal: Signal, at: datetime,
              clear_: Callable[[], Entries]) -> Entries:
        """Note the clear on the operations that saw the fire, then clear as usual."""
        for test_id in self._tests.ids(conn, signal, at):
            seen.record(conn, "test", test_id, signal, at)
        for disablement_id in self._disablements.ids(conn, signal, at):
            seen.record(conn, "disablement", disablement_id, signal, at)
        return clear_()

    def opened(self, conn: sa.Connection, entries: Entries, at: datetime) -> Entries:
        """Group each new alert, mark each new ticket opened inside a maintenance window."""
        out: Entries = []
        for entry in entries:
            if entry.action != "opened":
                continue
            incident = rows.fetch(conn, entry.incident_id)
            if incident.kind == "alert":
                out += grouping.join(conn, incident, at)
            else:
                out += windows.mark_ticket(conn, incident, at)
        return out


def _mark_tests(conn: sa.Connection, entries: Entries, test_id: int) -> None:
    """New alerts become test alerts: no escalation clock, resolved when the test ends."""
    for entry in entries:
        if entry.action == "opened" and rows.fetch(conn, entry.incident_id).kind == "alert":
            rows.update_incident(conn, entry.incident_id, test=True, test_id=test_id,
                                 next_escalation_at=None)
