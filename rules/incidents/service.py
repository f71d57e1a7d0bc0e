"""The incident service: rule signals and people's actions become alerts, tickets and timelines."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa

from rules.db.database import WRITE
from rules.engine.signals import Signal
from rules.incidents import clocks as incident_clocks
from rules.incidents import opening as incident_opening
from rules.incidents import queries as incident_queries
from rules.incidents import rows
from rules.incidents.lifecycle import PAST_TENSE, next_state
from rules.incidents.record import (
    OPEN_STATES,
    Action,
    AssigneeRequired,
    Incident,
    IncidentKind,
    IncidentStoreUnavailable,
    TimelineEntry,
)
from rules.incidents.sla import SlaPolicy

if TYPE_CHECKING:
    from rules.engine.models import RulePack

log = logging.getLogger(__name__)
T = TypeVar("T")
Entries = list[TimelineEntry]
Incidents = list[Incident]
Subscriber = Callable[[Entries], None]

_ATTEMPTS = 8  # tries of one write: a racer's insert or a lock can each cost one
_LOCKED_BACKOFF_S = 0.02  # seconds, times the attempt number, before retrying a locked write


def to_datetime(unix_seconds: float) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(unix_seconds, UTC)


class IncidentService:
    """Alerts and tickets in the relational database, one open incident per (rule, device)."""

    def __init__(
        self,
        engine: sa.Engine,
        pack: RulePack,
        sla: SlaPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._pack = pack
        self._sla = sla or SlaPolicy()
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        self._subscribers_lock = threading.Lock()

    # --- writes -----------------------------------------------------------------------------

    def use_pack(self, pack: RulePack) -> None:
        """The rules whose signals are applied from now on (hot reload)."""
        self._pack = pack

    def apply(self, signal: Signal, now: float | None = None) -> Entries:
        """Open, bump or auto-resolve the incident of the signal's (rule, device).

        `now` defaults to `signal.at`, the evaluator's clock when it decided.
        """
        at = to_datetime(signal.at if now is None else now)
        if signal.action == "clear":
            return self._write(lambda conn: incident_opening.clear(conn, signal, at))
        rule = self._pack.get(signal.rule_id)
        if rule is None:
            log.warning("signal for unknown rule %s ignored", signal.rule_id)
            return []
        return self._write(lambda conn: incident_opening.fire(conn, signal, rule, self._sla, at))

    def open_ticket(
        self,
        *,
        title: str,
        description: str,
        department: str,
        priority: str,
        actor: str,
        site: str | None = None,
        zone: str | None = None,
        device_id: str | None = None,
        location: str | None = None,
        now: float | None = None,
    ) -> Incident:
        """Open a ticket by hand (a complaint, a request): same SLA clocks as a rule's."""
        at = self._at(now)
        ticket = incident_opening.TicketDraft(
            title=title,
            description=description,
            department=department,
            priority=priority,
            site=site,
            zone=zone,
            device_id=device_id,
            location=location,
        )

        incident_id = self._write_returning(
            lambda conn: incident_opening.open_ticket(
                conn, ticket, self._sla, at, actor=actor, note=title
            )
        )
        return self.get(incident_id)

    def transition(
        self,
        incident_id: int,
        action: Action,
        *,
        actor: str,
        note: str = "",
        assignee: str | None = None,
        now: float | None = None,
    ) -> Incident:
        """Move an incident through its lifecycle (IllegalTransition, IncidentNotFound)."""
        at = self._at(now)

        def work(conn: sa.Connection) -> tuple[int, Entries]:
            current = rows.fetch(conn, incident_id, for_update=True)
            to_state = next_state(incident_id, current.kind, action, current.state)
            if action == "assign" and not assignee:
                raise AssigneeRequired(incident_id)
            values: dict[str, Any] = {"state": to_state}
            text = note
            if to_state not in OPEN_STATES and current.state in OPEN_STATES:
                values.update(resolved_at=at, open_key=None, next_escalation_at=None)
            if action == "acknowledge":
                values.update(acknowledged_at=at, next_escalation_at=None)
            if action in ("assign", "start") and current.acknowledged_at is None:
                values["acknowledged_at"] = at  # a ticket's first response stops its clock
            if action == "assign":
                values["assignee"] = assignee
                text = f"assigned to {assignee}" + (f": {note}" if note else "")
            elif action == "start" and current.assignee is None:
                values["assignee"] = actor  # starting an unassigned ticket takes it
                text = f"taken by {actor}" + (f": {note}" if note else "")
            rows.update_incident(conn, incident_id, **values)
            entries = [
                rows.add_entry(
                    conn,
                    incident_id,
                    at=at,
                    actor=actor,
                    action=PAST_TENSE[action],
                    from_state=current.state,
                    to_state=to_state,
                    note=text,
                )
            ]
            if current.kind == "ticket":
                responded = "acknowledged_at" in values
                closed = "resolved_at" in values
                moved = dataclasses.replace(current, state=to_state)
                entries += incident_clocks.late_breaches(conn, moved, at, responded, closed)
            return incident_id, entries

        self._write_returning(work)
        return self.get(incident_id)

    def escalate_due(self, now: float | None = None) -> Entries:
        """Escalate every unacknowledged active alert whose escalation time has come."""
        at = self._at(now)
        return self._write(lambda conn: incident_clocks.escalate_due(conn, self._sla, at))

    def flag_sla_breaches(self, now: float | None = None) -> Entries:
        """Record each ticket's respond and resolve breach once, when its deadline has passed."""
        at = self._at(now)
        return self._write(lambda conn: incident_clocks.flag_breaches(conn, at))

    # --- reads ------------------------------------------------------------------------------

    def get(self, incident_id: int) -> Incident:
        """One incident (IncidentNotFound if there is none)."""
        return self._read(lambda conn: rows.fetch(conn, incident_id))

    def timeline(self, incident_id: int) -> Entries:
        """Every change of one incident, oldest first (IncidentNotFound if there is none)."""
        return self._read(lambda conn: incident_queries.timeline(conn, incident_id))

    def list(
        self,
        *,
        kind: IncidentKind | None = None,
        state: str | None = None,
        severity: str | None = None,
        priority: str | None = None,
        department: str | None = None,
        site: str | None = None,
        device_id: str | None = None,
        open_only: bool = False,
        order: Literal["newest", "deadline"] = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Incidents, int]:
        """One page of incidents matching every given filter, and how many match in total."""
        filters = incident_queries.Filters(
            kind=kind,
            state=state,
            severity=severity,
            priority=priority,
            department=department,
            site=site,
            device_id=device_id,
            open_only=open_only,
        )
        return self._read(
            lambda conn: incident_queries.page(conn, filters, order, limit=limit, offset=offset)
        )

    def changes_since(self, after_id: int, limit: int = 500) -> Entries:
        """Timeline entries with an id above `after_id`, in id order (SSE resume)."""
        return self._read(lambda conn: incident_queries.changes_since(conn, after_id, limit))

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """Counts for the status page: open alerts by severity, open tickets by priority, breaches.

        Keys: active_alerts {critical, major, minor} (not yet resolved), unacknowledged_alerts,
        open_tickets {P1..P4}, sla_breaches (open tickets breached or past a deadline).
        """
        at = self._at(now)
        return self._read(lambda conn: incident_queries.summary(conn, at))

    # --- plumbing ---------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> None:
        """Call `callback` with the new timeline entries after every commit that wrote some."""
        with self._subscribers_lock:
            self._subscribers.append(callback)

    def _at(self, now: float | None) -> datetime:
        return to_datetime(self._clock() if now is None else now)

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
