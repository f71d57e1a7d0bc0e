"""The incident service: rule signals and people's actions become alerts, tickets and timelines."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa

from rules.engine.signals import Signal
from rules.incidents import clocks as incident_clocks
from rules.incidents import opening as incident_opening
from rules.incidents import queries as incident_queries
from rules.incidents import rechecks as incident_rechecks
from rules.incidents import rows
from rules.incidents.changefeed import head
from rules.incidents.lifecycle import PAST_TENSE, next_state
from rules.incidents.places import located
from rules.incidents.record import (
    OPEN_STATES,
    Action,
    AssigneeRequired,
    ConditionStillPresent,
    Incident,
    IncidentKind,
    NoteRequired,
    TimelineEntry,
)
from rules.incidents.sla import SlaPolicy
from rules.incidents.transactions import Transactions

if TYPE_CHECKING:
    from devices.registry import Registry
    from rules.engine.models import RulePack

log = logging.getLogger(__name__)
T = TypeVar("T")
Entries = list[TimelineEntry]
Incidents = list[Incident]



def to_datetime(unix_seconds: float) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(unix_seconds, UTC)


class IncidentService(Transactions):
    """Alerts and tickets in the relational database, one open incident per (rule, device)."""

    def __init__(
        self,
        engine: sa.Engine,
        pack: RulePack,
        sla: SlaPolicy | None = None,
        clock: Callable[[], float] = time.time,
        registry: Registry | None = None,  # zone and device names for an incident's location
        resolve_grace_s: float = 600.0,  # after a forced resolve, seconds before a recheck
    ) -> None:
        super().__init__(engine)
        self._resolve_grace_s = resolve_grace_s
        self._pack = pack
        self._registry = registry
        self._sla = sla or SlaPolicy()
        self._clock = clock

    # --- writes -----------------------------------------------------------------------------

    def apply(
        self, signal: Signal, now: float | None = None,
        also: Callable[[sa.Connection], object] | None = None,
    ) -> Entries:
        """Open, bump or auto-resolve the incident of the signal's (rule, device).

        `now` defaults to `signal.at`, the evaluator's clock when it decided. `also` runs in
        the same transaction (the signal outbox marks the signal applied there, so a crash
        can neither apply it twice nor lose it).
        """
        at = to_datetime(signal.at if now is None else now)

        def with_also(work: Callable[[sa.Connection], Entries]) -> Entries:
            def both(conn: sa.Connection) -> Entries:
                entries = work(conn)
                if also is not None:
                    also(conn)
                return entries

            return self._write(both)

        own = self._pack.get(signal.rule_id)
        # A backup signal (the rule `joins` another) acts on the joined rule's incident.
        rule = self._pack.get(own.joins) if own is not None and own.joins else own
        if signal.action == "clear":
            rule_id = rule.id if rule is not None else None
            return with_also(lambda conn: incident_opening.clear(conn, signal, at, rule_id))
        if rule is None:
            log.warning("signal for unknown rule %s ignored", signal.rule_id)
            return with_also(lambda conn: []) if also is not None else []
        signal, location = located(signal, self._registry)
        return with_also(
            lambda conn: incident_opening.fire(conn, signal, rule, self._sla, at, location)
        )

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
        force: bool = False,
        now: float | None = None,
    ) -> Incident:
        """Move an incident through its lifecycle (IllegalTransition, IncidentNotFound).

        Resolving a ticket whose condition is still present raises ConditionStillPresent
        unless `force` (with a note, else NoteRequired); a forced one is checked again after
        the grace period (recheck_forced)."""
        at = self._at(now)

        def work(conn: sa.Connection) -> tuple[int, Entries]:
            current = rows.fetch(conn, incident_id, for_update=True)
            to_state = next_state(incident_id, current.kind, action, current.state)
            if action == "assign" and not assignee:
                raise AssigneeRequired(incident_id)
            values: dict[str, Any] = {"state": to_state}
            text = note
            if action == "resolve" and current.kind == "ticket":
                present = incident_rechecks.condition(conn, self._pack, current)
                if present is not None and not force:
                    raise ConditionStillPresent(incident_id, current.state, present)
                if present is not None:
                    if not note.strip():
                        raise NoteRequired(incident_id)
                    incident_rechecks.plan(conn, current, at, self._resolve_grace_s)
                    text = f"{note} (forced: condition still present, {present})"
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

    def note_open_alerts(
        self,
        *,
        site: str,
        rule_ids: tuple[str, ...],
        actor: str,
        action: str,
        note: str,
        now: float | None = None,
    ) -> Entries:
        """A timeline entry (no state change) on every open alert of these rules at `site`."""
        at = self._at(now)

        def work(conn: sa.Connection) -> Entries:
            found = incident_queries.open_alerts(conn, site, rule_ids)
            return [
                rows.add_entry(conn, i.id, at=at, actor=actor, action=action,
                               from_state=i.state, to_state=i.state, note=note)
                for i in found
            ]

        return self._write(work)

    def recheck_forced(self, now: float | None = None) -> Entries:
        """A new ticket for each forced resolve whose condition is still present when due."""
        at = self._at(now)
        return self._write(
            lambda conn: incident_rechecks.run_due(conn, self._pack, self._sla, at)
        )

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
        order: Literal["newest", "deadline", "severity", "priority"] = "newest",
        limit: int = 50,
        offset: int = 0,
        sites: frozenset[str] | None = None,
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
            sites=sites,
        )
        return self._read(
            lambda conn: incident_queries.page(conn, filters, order, limit=limit, offset=offset)
        )

    def works_linked_ticket(self, alert_id: int, person: str) -> bool:
        """True when `person` is assigned an open ticket linked to this alert."""
        return self._read(
            lambda conn: incident_queries.works_linked_ticket(conn, alert_id, person)
        )

    def changes_since(self, after_id: int, limit: int = 500) -> Entries:
        """Timeline entries with an id above `after_id`, in id order (SSE resume)."""
        return self._read(lambda conn: incident_queries.changes_since(conn, after_id, limit))

    def last_change_id(self) -> int:
        """The highest timeline id committed so far (0 when there is none)."""
        return self._read(head)

    def summary(
        self, now: float | None = None, sites: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """Counts for the status page: open alerts by severity, open tickets by priority, breaches.

        Keys: active_alerts {critical, major, minor} (not yet resolved), unacknowledged_alerts,
        open_tickets {P1..P4}, sla_breaches (open tickets breached or past a deadline).
        """
        at = self._at(now)
        return self._read(lambda conn: incident_queries.summary(conn, at, sites))

    def _at(self, now: float | None) -> datetime:
        return to_datetime(self._clock() if now is None else now)
