"""What an incident is: alerts for security staff, tickets for maintenance staff (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

IncidentKind = Literal["alert", "ticket"]
ALERT_STATES = ("active", "acknowledged", "resolved")
TICKET_STATES = ("open", "assigned", "in_progress", "resolved", "cancelled")
OPEN_STATES = frozenset({"active", "acknowledged", "open", "assigned", "in_progress"})
OPEN_TICKET_STATES = ("open", "assigned", "in_progress")
SEVERITIES = ("critical", "major", "minor")
PRIORITIES = ("P1", "P2", "P3", "P4")
Action = Literal["acknowledge", "assign", "start", "resolve", "comment", "cancel"]


@dataclass(frozen=True)
class Incident:
    """One alert or ticket as it stands now."""

    id: int
    kind: IncidentKind
    rule_id: str | None  # None for a ticket opened by hand
    title: str
    description: str
    department: str  # property_management | maintenance | environment | security
    severity: str | None  # alerts: critical | major | minor
    priority: str | None  # tickets: P1..P4
    state: str
    site: str | None
    zone: str | None
    device_id: str | None
    location: str | None  # free text for hand-opened tickets
    runbook: str | None  # alerts: the rule's plan
    latching: bool
    auto_resolve: bool
    occurrences: int
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None  # alerts: ack; tickets: first response (assign/start)
    resolved_at: datetime | None
    assignee: str | None
    respond_by: datetime | None  # tickets (SLA)
    resolve_by: datetime | None  # tickets (SLA)
    respond_breached: bool
    resolve_breached: bool
    escalation_level: int  # alerts: times escalated so far
    next_escalation_at: datetime | None
    linked_incident_id: int | None  # alert -> its linked ticket, ticket -> its alert
    opened_by: str  # "rule:<id>" or the token name
    # operations (SPEC §8, rules/operations/): defaults keep older callers valid
    test: bool = False  # opened during a walk test: never escalates, resolves when it ends
    test_id: int | None = None
    group_id: int | None = None  # §8.2: the head's id (its own when alone)
    shelved_until: datetime | None = None  # shelved: off the active list until then
    resolution_code: str | None = None  # real | false_alarm | unwanted | test | fault
    window_id: int | None = None  # ticket opened inside this maintenance window
    plan: str | None = None  # a declared emergency's plan id

    @property
    def is_open(self) -> bool:
        """Neither resolved nor cancelled."""
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class TimelineEntry:
    """One change of one incident: the audit trail and the SSE event."""

    id: int  # global, increasing: doubles as the SSE event id
    incident_id: int
    at: datetime
    actor: str  # token name, "rule:<id>", "system"
    action: str  # opened | repeated | acknowledged | assigned | started | resolved | cancelled |
    # commented | escalated | sla_breached | auto_resolved | linked
    from_state: str | None
    to_state: str | None
    note: str
    actor_token_id: int | None = None  # the API token that acted; None for rules and system


class IncidentNotFound(LookupError):
    """No incident has this id (the API answers 404)."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found")
        self.incident_id = incident_id


class IllegalTransition(ValueError):
    """The action is not allowed from the incident's current state (the API answers 409)."""

    def __init__(self, incident_id: int, action: str, current_state: str, hint: str = "") -> None:
        text = f"cannot {action} incident {incident_id} in state {current_state}"
        super().__init__(f"{text}: {hint}" if hint else text)
        self.incident_id = incident_id
        self.action = action
        self.current_state = current_state


class ConditionStillPresent(IllegalTransition):
    """Resolving a ticket whose rule still sees its condition (the API answers 409)."""

    def __init__(self, incident_id: int, state: str, condition: str) -> None:
        super().__init__(
            incident_id, "resolve", state,
            f"its condition is still present ({condition}); fix it first, or resolve with "
            '"force": true and a note saying why (a new ticket opens if it is still present '
            "after the grace period)",
        )
        self.condition = condition


class NoteRequired(ValueError):
    """A forced resolve came without a note saying why (the API answers 422)."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"a forced resolve of incident {incident_id} needs a note saying why")
        self.incident_id = incident_id


class AssigneeRequired(ValueError):
    """An assign action came without an assignee (the API answers 422)."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"assigning incident {incident_id} needs an assignee")
        self.incident_id = incident_id


class IncidentStoreUnavailable(RuntimeError):
    """The incident database cannot be reached or stayed locked: retry later (API: 503)."""
