"""Notifications: routes chosen by incident kind, department, grade and action, and the
dispatcher that turns timeline entries into logged, retried webhook and e-mail deliveries."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError

from rules.db import WRITE
from rules.incident import Incident, TimelineEntry
from rules.mailer import mail_text, send_mail
from rules.schema import metadata
from rules.webhook import DeliveryFailed, post_webhook

if TYPE_CHECKING:
    from rules.incidents import IncidentService
    from rules.windows import MaintenanceWindows

log = logging.getLogger("sitewatch.notify")

# The changes worth telling people about unless a route lists its own actions.
NOTABLE_ACTIONS = ("opened", "escalated", "sla_breached", "resolved", "auto_resolved", "cancelled")

_meta = metadata  # one schema, one Alembic chain
deliveries = sa.Table(
    "notification_deliveries",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("timeline_id", sa.Integer, nullable=False),
    sa.Column("incident_id", sa.Integer, nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | delivered | failed | muted
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body, resent unchanged
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("next_attempt_at", sa.Float, nullable=True),  # Unix seconds; None once settled
    sa.Column("delivered_at", sa.Float, nullable=True),  # Unix seconds
    sa.Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_notification_deliveries_incident_id", "incident_id"),
)
cursor = sa.Table(
    "notification_cursor",
    _meta,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("last_timeline_id", sa.Integer, nullable=False),  # every entry up to it is logged
)


class NotificationConfigError(ValueError):
    """The routes file is unreadable or invalid; the message names the file and field."""


class Route(BaseModel):
    """Where to send which incident changes; an empty filter list matches everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    channel: Literal["webhook", "email"]
    kinds: list[Literal["alert", "ticket"]] = []
    departments: list[str] = []
    grades: list[str] = []  # severities (critical...) and/or priorities (P1...)
    actions: list[str] = list(NOTABLE_ACTIONS)  # timeline actions: opened, escalated...
    url: str | None = None  # webhook
    secret: str | None = None  # webhook: HMAC-SHA256 key
    smtp_host: str | None = None  # email
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str | None = None
    mail_to: list[str] = []
    timeout_s: float = Field(default=5.0, gt=0)  # per attempt, seconds
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=2.0, ge=0)  # wait before the 2nd attempt; doubles after
    backoff_max_s: float = Field(default=600.0, ge=0)  # longest wait between attempts

    @model_validator(mode="after")
    def _channel_settings(self) -> Route:
        if self.channel == "webhook" and not (self.url and self.secret):
            raise ValueError("a webhook route needs url and secret")
        if self.channel == "email" and not (self.smtp_host and self.mail_from and self.mail_to):
            raise ValueError("an email route needs smtp_host, mail_from and mail_to")
        return self

    def matches(self, incident: Incident, action: str) -> bool:
        """Whether this change of this incident goes to this route."""
        grade = incident.severity or incident.priority
        return (
            action in self.actions
            and (not self.kinds or incident.kind in self.kinds)
            and (not self.departments or incident.department in self.departments)
            and (not self.grades or grade in self.grades)
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts (exponential, capped)."""
        return float(min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s))


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route] = []


def parse_routes(text: str, source: str = "<notifications>") -> list[Route]:
    """Parse the routes YAML (`routes: [...]`); errors name the source and field."""
    try:
        raw = yaml.safe_load(text) or {}
        routes = _RoutesFile.model_validate(raw).routes
    except yaml.YAMLError as e:
        raise NotificationConfigError(f"{source}: not valid YAML: {e}") from e
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise NotificationConfigError(f"{source}: {where}: {first['msg']}") from e
    names = [r.name for r in routes]
    if len(names) != len(set(names)):
        raise NotificationConfigError(f"{source}: route names must be unique")
    return routes


def load_routes(path: str | Path | None) -> list[Route]:
    """Routes from a YAML file; no file means no notifications."""
    if path is None:
        return []
    p = Path(path)
    try:
        return parse_routes(p.read_text("utf-8"), str(p))
    except OSError as e:
        raise NotificationConfigError(f"{p}: cannot read: {e}") from e


@dataclass(frozen=True)
class Delivery:
    """One (incident change, route) notification and how its delivery went."""

    id: int
    idempotency_key: str
    route: str
    channel: str
    timeline_id: int
    incident_id: int
    action: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    next_attempt_at: float | None
    delivered_at: float | None


def list_deliveries(
    engine: sa.Engine,
    *,
    status: str | None = None,
    incident_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Delivery], int]:
    """The delivery log, newest first, and the total matching."""
    where = []
    if status is not None:
        where.append(deliveries.c.status == status)
    if incident_id is not None:
        where.append(deliveries.c.incident_id == incident_id)
    cols = [c for c in deliveries.c if c.name != "payload"]
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(deliveries).where(*where))
        rows = conn.execute(
            sa.select(*cols).where(*where).order_by(deliveries.c.id.desc()).limit(limit).offset(offset)
        ).all()
    return [Delivery(**r._asdict()) for r in rows], int(total or 0)


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
        clock: Callable[[], float] = time.time,
        queue_max: int = 10_000,  # batches of timeline entries waiting for the worker
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._incidents = incidents
        self._routes = {r.name: r for r in routes}
        self._windows = windows
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
            routes = [r for r in self._routes.values() if entry.action in r.actions]
            if routes:
                incident = self._incidents.get(entry.incident_id)
                muted = self._windows is not None and self._windows.mutes(incident, now)
                for route in routes:
                    if route.matches(incident, entry.action):
                        created += self._record(route, incident, entry, muted, now)
        if entries:
            self._advance_cursor(max(e.id for e in entries))
        return created

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
