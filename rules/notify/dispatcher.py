"""Notifications: the dispatcher that turns timeline entries into logged, retried webhook and
e-mail deliveries, sent along the routes (rules/notify/routes.py) each change matches."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from rules.db.database import WRITE
from rules.db.schema import deliveries
from rules.db.schema import notify_cursor as cursor
from rules.incidents.record import Incident, TimelineEntry
from rules.notify.mailer import mail_text, send_mail
from rules.notify.routes import Route
from rules.notify.webhook import DeliveryFailed, post_webhook

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService
    from rules.notify.windows import MaintenanceWindows

log = logging.getLogger("sitewatch.notify")
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


class Notifier:
    """Feeds timeline entries from `IncidentService.subscribe` through a bounded queue to a
    worker thread that logs one delivery per matching route and sends it, retrying with
    exponential backoff. Pending deliveries live in the log, so a restart resumes them."""

    def __init__(
        self,
        engine: sa.Engine,
        incidents: IncidentService,
        routes: Sequence[Route],
        *,
        windows: MaintenanceWindows | None = None,
        verdict: RouteVerdict | None = None,
        clock: Callable[[], float] = time.time,
        queue_max: int = 10_000,  # batches of timeline entries waiting for the worker
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._incidents = incidents
        self._routes = {r.name: r for r in routes}
        self._windows = windows
        self._verdict = verdict
        self._clock = clock
        self._queue: queue.Queue[list[TimelineEntry] | None] = queue.Queue(maxsize=queue_max)
        self._stop = threading.Event()
        self._sending = threading.Lock()
        self._thread: threading.Thread | None = None
        self._subscribed = False
        self.refused = 0  # batches the full queue refused; recovered by a catch-up sweep
        self.errors = 0  # worker rounds that raised; logged and retried
        self._refused_seen = 0

    # -- feeding -------------------------------------------------------------------------
    def on_changes(self, entries: list[TimelineEntry]) -> None:
        """The subscribe callback: never blocks; a full queue refuses and counts."""
        try:
            self._queue.put_nowait(list(entries))
        except queue.Full:
            self.refused += 1

    def process(self, entries: Sequence[TimelineEntry], now: float | None = None) -> int:
        """Log a pending (or muted) delivery per matching route; returns how many were new."""
        now = self._clock() if now is None else now
        created = 0
        for entry in entries:
            routes = [r for r in self._routes.values()
                      if entry.action in r.actions or self._verdict is not None]
            if routes:
                incident = self._incidents.get(entry.incident_id)
                muted = self._windows is not None and self._windows.mutes(incident, now)
                for route in routes:
                    verdict = self._route_verdict(route, incident, entry, now)
                    if verdict != "skip":
                        created += self._record(route, incident, entry,
                                                muted or verdict == "mute", now)
        if entries:
            self._advance_cursor(max(e.id for e in entries))
        return created

    def _route_verdict(self, route: Route, incident: Incident, entry: TimelineEntry,
                       now: float) -> str:
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
        }
        try:
            with self._writer.begin() as conn:
                conn.execute(deliveries.insert().values(**row))
        except IntegrityError:
            return 0  # already logged: the same change seen twice (catch-up overlap)
        return 1

    def catch_up(self) -> int:
        """Log deliveries for every timeline entry after the saved cursor (restart, overflow).

        With no cursor yet (first start on an existing database) the history is skipped, not
        notified: the cursor starts at the newest entry.
        """
        after = self._cursor()
        created = 0
        baseline = after is None
        after = after or 0
        while True:
            batch = self._incidents.changes_since(after, limit=500)
            if not batch:
                break
            if not baseline:
                created += self.process(batch)
            after = max(e.id for e in batch)
        self._advance_cursor(after)
        return created

    def _cursor(self) -> int | None:
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

    # -- sending -------------------------------------------------------------------------
    def deliver_due(self, now: float | None = None, limit: int = 100) -> int:
        """Attempt every pending delivery whose time has come; returns how many succeeded."""
        now = self._clock() if now is None else now
        with self._sending:  # one sender at a time, or a slow attempt could be repeated
            with self._engine.connect() as conn:
                rows = conn.execute(
                    sa.select(deliveries)
                    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                    .order_by(deliveries.c.id)
                    .limit(limit)
                ).all()
            return sum(self._attempt(row) for row in rows)

    def _attempt(self, row: Any) -> int:
        route = self._routes.get(row.route)
        values: dict[str, Any]
        if route is None:  # the route was removed from the file since this was logged
            values = {"status": "failed", "last_error": "route no longer configured",
                      "next_attempt_at": None}
        else:
            attempts = row.attempts + 1
            try:
                self._send(route, row.payload, row.idempotency_key)
                values = {"status": "delivered", "attempts": attempts, "last_error": None,
                          "next_attempt_at": None, "delivered_at": self._clock()}
            except DeliveryFailed as e:
                give_up = attempts >= route.max_attempts
                values = {"status": "failed" if give_up else "pending", "attempts": attempts,
                          "last_error": str(e)[:1000],
                          "next_attempt_at": None if give_up
                          else self._clock() + route.backoff(attempts)}
                log.warning("delivery %s attempt %d failed: %s", row.idempotency_key, attempts, e)
        with self._writer.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.id == row.id).values(**values))
        return 1 if values["status"] == "delivered" else 0

    def _send(self, route: Route, payload: str, key: str) -> None:
        if route.channel == "webhook":
            assert route.url and route.secret  # checked when the route was loaded
            post_webhook(route.url, payload.encode("utf-8"), secret=route.secret,
                         idempotency_key=key, timeout_s=route.timeout_s)
            return
        assert route.smtp_host and route.mail_from
        subject, text = mail_text(json.loads(payload))
        send_mail(host=route.smtp_host, port=route.smtp_port, mail_from=route.mail_from,
                  mail_to=route.mail_to, subject=subject, text=text, idempotency_key=key,
                  starttls=route.smtp_starttls, username=route.smtp_username,
                  password=route.smtp_password, timeout_s=route.timeout_s)

    # -- worker --------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to incident changes, then run the worker thread (catching up first)."""
        if not self._subscribed:
            self._incidents.subscribe(self.on_changes)
            self._subscribed = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker; pending deliveries stay in the log for the next start."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # the worker wakes within its poll anyway
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                if first or self.refused != self._refused_seen:
                    self._refused_seen = self.refused
                    self.catch_up()
                    first = False
                try:
                    entries = self._queue.get(timeout=self._wait())
                except queue.Empty:
                    entries = None
                if entries:
                    self.process(entries)
                self.deliver_due()
            except Exception:
                self.errors += 1
                log.exception("notification worker round failed")
                first = True  # entries taken from the queue may be unlogged: sweep again
                self._stop.wait(1.0)

    def _wait(self) -> float:
        """Seconds until the next pending delivery is due, between 10 ms and 1 s."""
        with self._engine.connect() as conn:
            due = conn.scalar(
                sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
                    deliveries.c.status == "pending"
                )
            )
        if due is None:
            return 1.0
        return float(min(max(due - self._clock(), 0.01), 1.0))
