"""Notification intake: each incident change read from the feed, in commit order, becomes one
logged delivery per matching route; a saved cursor says how far the log is complete."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from rules.db.database import WRITE
from rules.db.schema import deliveries
from rules.db.schema import notify_cursor as cursor
from rules.incidents.record import (
    Incident,
    IncidentNotFound,
    IncidentStoreUnavailable,
    TimelineEntry,
)
from rules.notify.routes import Route, rank

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService
    from rules.notify.windows import MaintenanceWindows

log = logging.getLogger("sitewatch.notify")
PAGE = 500  # timeline entries read per query
# A round whose changes no route looks at saves its cursor at most this often (seconds): its
# position is kept in memory meanwhile. After a crash those changes are read again and, as
# no route looks at them, log nothing again; an alarm burst no longer costs the incident
# database one write (and the rules worker one wait for its lock) per change.
QUIET_CURSOR_EVERY_S = 1.0


# Operations' say per route (rules/operations/notifications.py): "send", "mute" or "skip".
RouteVerdict = Callable[[Incident, TimelineEntry, Route, float], str]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def render_payload(incident: Incident, entry: TimelineEntry, key: str) -> str:
    """The JSON body of a notification: the change and the incident as it stood."""
    body = {
        "idempotency_key": key,
        "action": entry.action,
        "change": {k: _jsonable(v) for k, v in asdict(entry).items()},
        "incident": {k: _jsonable(v) for k, v in asdict(incident).items()},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class Intake:
    """Logs a pending (or muted) delivery per (change, matching route), idempotently."""

    def __init__(
        self,
        engine: sa.Engine,
        incidents: IncidentService,
        routes: Sequence[Route],
        windows: MaintenanceWindows | None,
        clock: Callable[[], float],
        verdict: RouteVerdict | None = None,  # operations' say per route, when installed
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._incidents = incidents
        self._routes = list(routes)
        self._windows = windows
        self._clock = clock
        self._verdict = verdict
        self.skipped = 0  # changes that raised while being rendered (logged, not notified)
        self._unsaved: int | None = None  # cursor reached by quiet rounds, not saved yet
        self._saved_at = float("-inf")  # clock() of the last cursor save

    def process(self, entries: Sequence[TimelineEntry], now: float | None = None) -> int:
        """Log the deliveries of these entries and move the cursor past them; returns new rows."""
        now = self._clock() if now is None else now
        created = 0
        looked = False  # whether any route looks at one of these changes
        for entry in entries:
            routes = self._routes_for(entry)
            looked = looked or bool(routes)
            try:
                created += self._process_one(entry, routes, now)
            except (sa.exc.SQLAlchemyError, IncidentStoreUnavailable):
                raise  # the database: the whole round is retried from the cursor
            except Exception:  # a change that cannot be rendered must not stall the rest
                self.skipped += 1
                log.exception("change %d cannot be notified; skipped", entry.id)
        if entries:
            self._move_cursor(max(e.id for e in entries), save=looked)
        return created

    def _routes_for(self, entry: TimelineEntry) -> list[Route]:
        return [r for r in self._routes if entry.action in r.actions or self._verdict]

    def _move_cursor(self, timeline_id: int, save: bool) -> None:
        """Save the cursor now, or (a quiet round) keep it in memory up to
        QUIET_CURSOR_EVERY_S."""
        now = self._clock()
        if save or now - self._saved_at >= QUIET_CURSOR_EVERY_S:
            self._advance_cursor(timeline_id)
            self._unsaved, self._saved_at = None, now
        else:
            self._unsaved = timeline_id

    def _process_one(self, entry: TimelineEntry, routes: list[Route], now: float) -> int:
        if not routes:
            return 0
        try:
            incident = self._incidents.get(entry.incident_id)
        except IncidentNotFound:
            return 0  # deleted since: nothing left to tell
        muted = self._windows is not None and self._windows.mutes(incident, now)
        created = 0
        for route in routes:
            verdict = self._route_verdict(route, incident, entry, now)
            if verdict != "skip":
                created += self._record(route, incident, entry, muted or verdict == "mute", now)
        return created

    def _route_verdict(
        self, route: Route, incident: Incident, entry: TimelineEntry, now: float
    ) -> str:
        """send, mute or skip: the route's own filters, or operations' say when given."""
        if self._verdict is None:
            return "send" if route.matches(incident, entry.action) else "skip"
        return self._verdict(incident, entry, route, now)

    def _record(
        self, route: Route, incident: Incident, entry: TimelineEntry, muted: bool, now: float
    ) -> int:
        key = f"tl-{entry.id}-{route.name}"
        row = {
            "idempotency_key": key, "route": route.name, "channel": route.channel,
            "timeline_id": entry.id, "incident_id": incident.id, "action": entry.action,
            "status": "muted" if muted else "pending", "attempts": 0, "last_error": None,
            "payload": render_payload(incident, entry, key), "created_at": now,
            "next_attempt_at": None if muted else now, "delivered_at": None,
            "rank": rank(incident),
        }
        try:
            with self._writer.begin() as conn:
                conn.execute(deliveries.insert().values(**row))
        except IntegrityError:
            return 0  # already logged: a crash between the rows and the cursor
        return 1

    def catch_up(self) -> int:
        """Log deliveries for every change after the saved cursor; returns new rows.

        With no cursor yet (first start on an existing database) the history is skipped, not
        notified: the cursor starts at the newest entry. Ids are in commit order
        (rules/incidents/changefeed.py), so `id > cursor` never skips a late commit.
        """
        after = self.cursor()
        if after is None:
            self._advance_cursor(self._incidents.last_change_id())
            return 0
        if self._unsaved is not None and self._unsaved > after:
            after = self._unsaved  # quiet rounds read past the saved cursor
        created = 0
        while True:
            batch = self._incidents.changes_since(after, limit=PAGE)
            if not batch:
                if self._unsaved is not None:  # nothing new: save what quiet rounds reached
                    self._move_cursor(self._unsaved, save=False)
                return created
            created += self.process(batch)
            after = batch[-1].id

    def cursor(self) -> int | None:
        """The highest timeline id whose deliveries are all logged (None before the first start)."""
        with self._engine.connect() as conn:
            value = conn.scalar(
                sa.select(cursor.c.last_timeline_id).where(cursor.c.name == "notify")
            )
        return None if value is None else int(value)

    def _advance_cursor(self, timeline_id: int) -> None:
        with self._writer.begin() as conn:
            done = conn.execute(
                cursor.update()
                .where(cursor.c.name == "notify", cursor.c.last_timeline_id < timeline_id)
                .values(last_timeline_id=timeline_id)
            ).rowcount
            exists = conn.scalar(
                sa.select(sa.func.count()).select_from(cursor).where(cursor.c.name == "notify")
            )
            if not done and not exists:
                conn.execute(cursor.insert().values(name="notify", last_timeline_id=timeline_id))
