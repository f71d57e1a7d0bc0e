"""The incident service: rule signals and people's actions become alerts, tickets and timelines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa

from rules.audit import log as audit
from rules.engine.signals import Signal
from rules.incidents import clocks as incident_clocks
from rules.incidents import opening as incident_opening
from rules.incidents import queries as incident_queries
from rules.incidents import rechecks as incident_rechecks
from rules.incidents import rows
from rules.incidents.changefeed import head
from rules.incidents.gate import SignalGate, apply_signal
from rules.incidents.record import (
    Action,
    Incident,
    IncidentKind,
    TimelineEntry,
)
from rules.incidents.sla import SlaPolicy
from rules.incidents.transactions import Transactions
from rules.incidents.transitions import move

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
        self._gate: SignalGate | None = None

    @property
    def sla(self) -> SlaPolicy:
        """The SLA and escalation clocks incidents get."""
        return self._sla

    def install_gate(self, gate: SignalGate) -> None:
        """Let operations (disablements, tests, grouping, windows) see every signal."""
        self._gate = gate

    # --- writes -----------------------------------------------------------------------------

    def use_pack(self, pack: RulePack) -> None:
        """The rules whose signals are applied from now on (hot reload)."""
        self._pack = pack

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
        if signal.action != "clear" and self._pack.get(signal.rule_id) is None:
            log.warning("signal for unknown rule %s ignored", signal.rule_id)
            if also is None:
                return []

        def work(conn: sa.Connection) -> Entries:
            entries = self.apply_in(conn, signal, at)
            if also is not None:
                also(conn)  # even for a signal hidden by operations: it was handled
            return entries

        return self._write(work)

    def apply_in(self, conn: sa.Connection, signal: Signal, at: datetime) -> Entries:
        """What `apply` does, inside the caller's write transaction (operations replay)."""
        return apply_signal(conn, signal, at, self._pack, self._sla, self._gate, self._registry)

    def write(self, work: Callable[[sa.Connection], tuple[T, Entries]]) -> T:
        """Run `work` in one write transaction (retried on a race or a lock) and publish the
        timeline entries it returns: how operations change incidents."""
        return self._write_returning(work)

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
        actor_token_id: int | None = None,
        checklist: Sequence[str] = (),  # its checklist's items, in order (SPEC §8.4)
        also: Callable[[sa.Connection, int], object] | None = None,  # (conn, id) in its transaction
        audited: bool = True,  # False: the scheduler opens it, not a person
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
            checklist=tuple(checklist),
        )

        def work(conn: sa.Connection) -> tuple[int, Entries]:
            incident_id, entries = incident_opening.open_ticket(
                conn, ticket, self._sla, at, actor=actor, note=title, actor_token_id=actor_token_id
            )
            if audited:
                audit.record(conn, actor=actor, action="incident.open", at=at, site=site,
                             target=f"incident:{incident_id}", actor_token_id=actor_token_id,
                             detail={"kind": "ticket", "title": title, "department": department,
                                     "priority": priority, "zone": zone, "device_id": device_id})
            if self._gate is not None:
                entries += self._gate.opened(conn, entries, at)
            if also is not None:
                also(conn, incident_id)
            return incident_id, entries

        return self.get(self._write_returning(work))

    def opened_in(self, conn: sa.Connection, entries: Entries, at: datetime) -> Entries:
        """What operations add to incidents opened inside the caller's write (a follow-up
        ticket in a maintenance window is marked as one opened by hand would be)."""
        return [] if self._gate is None else self._gate.opened(conn, entries, at)

    def transition(
        self,
        incident_id: int,
        action: Action,
        *,
        actor: str,
        note: str = "",
        assignee: str | None = None,
        force: bool = False,
        code: str | None = None,
        now: float | None = None,
        actor_token_id: int | None = None,
    ) -> Incident:
        """Move an incident through its lifecycle (IllegalTransition, IncidentNotFound);
        `code` is a resolution code (SPEC §6), stored when resolving; `actor_token_id` is the
        API token that acted (kept in the timeline entry).

        Resolving a ticket whose condition is still present raises ConditionStillPresent
        unless `force` (with a note, else NoteRequired); a forced one is checked again after
        the grace period (recheck_forced)."""
        at = self._at(now)

        def work(conn: sa.Connection) -> tuple[int, Entries]:
            return incident_id, move(
                conn, self._pack, incident_id, action, at, actor=actor, note=note,
                assignee=assignee, force=force, code=code, grace_s=self._resolve_grace_s,
                actor_token_id=actor_token_id,
            )

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

    def recheck_forced(
        self, now: float | None = None, sites: Collection[str] | None = None,  # None: all
    ) -> Entries:
        """A new ticket for each forced resolve whose condition is still present when due."""
        at = self._at(now)
        return self._write(
            lambda conn: incident_rechecks.run_due(conn, self._pack, self._sla, at, sites)
        )

    def escalate_due(
        self, now: float | None = None, sites: Collection[str] | None = None,  # None: all
    ) -> Entries:
        """Escalate every unacknowledged active alert whose escalation time has come."""
        at = self._at(now)
        return self._write(
            lambda conn: incident_clocks.escalate_due(conn, self._sla, at, sites))

    def flag_sla_breaches(
        self, now: float | None = None, sites: Collection[str] | None = None,  # None: all
    ) -> Entries:
        """Record each ticket's respond and resolve breach once, when its deadline has passed."""
        at = self._at(now)
        return self._write(lambda conn: incident_clocks.flag_breaches(conn, at, sites))

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
        shelved: bool | None = None,
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
            shelved=shelved,
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
