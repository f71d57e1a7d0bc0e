"""The notifier's one question to operations: does this change go along this route?

`verdict(incident, entry, route, now)` answers `send`, `mute` (logged as muted, not sent) or
`skip` (no delivery at all). The dispatcher calls it once per route of a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa

from rules.db.schema import incidents
from rules.incidents.record import Incident, TimelineEntry
from rules.notify.routes import Route
from rules.operations import silences

Verdict = Literal["send", "mute", "skip"]


class NotificationRules:
    """Tests, group folding, silences and emergencies applied to notification routes."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def verdict(self, incident: Incident, entry: TimelineEntry, route: Route,
                now: float | None = None) -> Verdict:
        """send, mute or skip this change on this route."""
        if incident.plan is not None:  # a declared emergency reaches every department
            return "send" if entry.action in route.actions else "skip"
        if not route.matches(incident, entry.action):
            head = incident.kind == "alert" and incident.group_id == incident.id
            if not (head and entry.action == "grouped" and route.matches(incident, "opened")):
                return "skip"  # (a member joining is told where its head's opening went)
        if incident.test:
            return "send" if route.tests else "mute"
        at = datetime.fromtimestamp(self._clock() if now is None else now, UTC)
        with self._engine.connect() as conn:
            if self._folded(conn, incident):
                return "mute"  # told through the head's "grouped" entry
            return "mute" if silences.silenced(conn, incident, at) else "send"

    @staticmethod
    def _folded(conn: sa.Connection, incident: Incident) -> bool:
        """A group member whose head is critical (never silenced) is folded into it; under a
        lesser head it speaks for itself, so a silence on the head never hides it."""
        if incident.kind != "alert" or incident.group_id in (None, incident.id):
            return False
        head = conn.execute(sa.select(incidents.c.severity).where(
            incidents.c.id == incident.group_id)).scalar()
        return head == "critical"
