"""Request and response bodies of the HTTP API (what /openapi.json promises)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.people_schemas import RequesterIn
from api.text import Line, Prose
from rules.engine.parts import Department, Priority

IncidentState = Literal[
    "active", "acknowledged", "open", "assigned", "in_progress", "resolved", "cancelled"
]
LiveState = Literal["online", "stale", "offline", "unknown"]  # unknown: never heard yet
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # site and device ids (SPEC §2)
METRIC_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
# A device as the API names it: an id, or `ID@SITE` for a registered id heard under another
# site's topic (kept apart as an unregistered device, ingest/decode.py).
DEVICE_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(@[A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$"
MetricValue = bool | float | str


class ErrorOut(BaseModel):
    """Every error except 422: `{"detail": "what went wrong and what to do"}`."""

    detail: str


class ConflictOut(BaseModel):
    """409: the move is not legal from the incident's current state."""

    detail: str
    incident_id: int
    action: str
    state: str  # the incident's state now


class HealthOut(BaseModel):
    """Liveness and each dependency's state; 503 carries the same body."""

    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]  # dependency -> {"ok": bool, ...}


class DeviceCounts(BaseModel):
    """How many devices are in each state."""

    total: int
    registered: int
    unregistered: int  # heard on the broker but not in the registry
    by_state: dict[LiveState, int]


class StatusOut(BaseModel):
    """The site at a glance."""

    at: datetime
    devices: DeviceCounts
    alerts_active_by_severity: dict[str, int]  # not yet resolved
    alerts_unacknowledged: int
    tickets_open_by_priority: dict[str, int]
    sla_breaches: int
    # disabled points, tests in progress, shelved alerts, silences, alert groups (SPEC §8)
    operations: dict[str, Any] | None = None
    ingest: dict[str, Any]  # the ingest counters (received, accepted, rejected by reason, ...)


class LatestValue(BaseModel):
    """The latest value of one metric."""

    ts: datetime
    value: MetricValue


class DeviceOut(BaseModel):
    """A device: registry facts, liveness and its latest metrics."""

    id: str
    site: str
    zone: str | None
    kind: str | None  # None for an unregistered device
    name: str
    registered: bool
    state: LiveState = Field(
        description=(
            "online, stale (silent for three expected intervals), offline (its status says "
            "so) or unknown. A device never heard from, not even before a restart, is unknown "
            "for its first three intervals after the service started, then stale; its "
            "last_seen stays null."
        )
    )
    since: datetime = Field(
        description=(
            "When the current state began; for a device never heard from, the service's start "
            "(unknown) or three intervals after it (stale)."
        )
    )
    last_seen: datetime | None = Field(
        description="The device's last message of any channel, kept across restarts; null "
        "if it was never heard from."
    )
    latest: dict[str, LatestValue]
    floor: str | None = None  # the registry's floor, for the console's site map
    x: float | None = None  # position on the floor plan, % of its width from the left
    y: float | None = None  # position on the floor plan, % of its height from the top


class DevicePage(BaseModel):
    """One page of devices."""

    items: list[DeviceOut]
    total: int
    limit: int
    offset: int


class SampleOut(BaseModel):
    """One sample (an average per bucket when `every` was given)."""

    ts: datetime
    value: MetricValue


class TelemetryOut(BaseModel):
    """A metric's history."""

    device_id: str
    metric: str
    start: datetime
    end: datetime
    every_s: float | None  # bucket width in seconds, None for raw samples
    truncated: bool  # True when `limit` rows were returned and more may exist
    samples: list[SampleOut]


class TimelineEntryOut(BaseModel):
    """One change of an incident: who, what, when."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str
    actor_token_id: int | None = None  # the API token that acted; null for rule/system entries


class IncidentOut(BaseModel):
    """An alert or a ticket."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: Literal["alert", "ticket"]
    rule_id: str | None
    title: str
    description: str
    department: str
    severity: str | None
    priority: str | None
    state: str
    site: str | None
    zone: str | None
    device_id: str | None
    location: str | None
    runbook: str | None
    latching: bool
    auto_resolve: bool
    occurrences: int
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    assignee: str | None
    respond_by: datetime | None
    resolve_by: datetime | None
    respond_breached: bool
    resolve_breached: bool
    escalation_level: int
    next_escalation_at: datetime | None
    linked_incident_id: int | None
    opened_by: str
    # operations (SPEC §8): walk test, group, shelving, resolution code, window, emergency plan
    test: bool = False
    test_id: int | None = None
    group_id: int | None = None
    shelved_until: datetime | None = None
    resolution_code: str | None = None
    window_id: int | None = None
    plan: str | None = None


class ChecklistItemOut(BaseModel):
    """One item of a ticket's checklist and its answer (SPEC §8.4); `result` null: unanswered."""

    model_config = ConfigDict(from_attributes=True)

    position: int  # the item's number: POST /api/v1/incidents/{id}/checklist/{position}
    text: str
    result: Literal["done", "failed", "n/a"] | None
    note: str
    answered_by: str | None
    answered_at: datetime | None
    follow_up_incident_id: int | None  # the ticket this failed item opened


class IncidentDetail(IncidentOut):
    """An incident with its whole timeline, oldest first."""

    timeline: list[TimelineEntryOut]
    members: list[IncidentOut] = []  # a group head's other alerts (SPEC §8.2)
    checklist: list[ChecklistItemOut] = []  # a ticket's checklist, in order (SPEC §8.4)


class IncidentPage(BaseModel):
    """One page of incidents."""

    items: list[IncidentOut]
    total: int
    limit: int
    offset: int


class StreamEvent(BaseModel):
    """The JSON `data:` of one Server-Sent Event: the change and the incident as it is now."""

    entry: TimelineEntryOut
    incident: IncidentOut


class TransitionIn(BaseModel):
    """Body of acknowledge, start, resolve, cancel and comment."""

    model_config = ConfigDict(extra="forbid")

    note: Prose = Field(default="", max_length=2000)
    assignee: Line | None = Field(default=None, min_length=1, max_length=128)  # the column's


class AcknowledgeIn(TransitionIn):
    """Body of acknowledge: `group` acknowledges every active alert of the group (§8.2)."""

    group: bool = False


class AssignIn(TransitionIn):
    """Body of assign: who takes the ticket (none given: the caller)."""

    assignee: Line | None = Field(default=None, min_length=1, max_length=128)  # the column's


class ResolveIn(TransitionIn):
    """Body of resolve: an alert needs its resolution `code` (SPEC §6); `force` resolves a
    ticket whose condition is still present (a note saying why is then required; a new ticket
    opens if it is still present after a grace)."""

    code: Literal["real", "false_alarm", "unwanted", "test", "fault"] | None = None
    force: bool = False


class CommentIn(TransitionIn):
    """Body of comment: the note is what it is for."""

    note: Prose = Field(min_length=1, max_length=2000, pattern=r"\S")


class TicketIn(BaseModel):
    """A ticket opened by hand: a complaint, a request, a fault a guard saw."""

    model_config = ConfigDict(extra="forbid")

    title: Line = Field(min_length=1, max_length=200)
    description: Prose = Field(default="", max_length=5000)
    department: Department = "maintenance"
    priority: Priority = "P3"
    site: str | None = Field(default=None, pattern=NAME_PATTERN)
    zone: Line | None = Field(default=None, min_length=1, max_length=128)  # the column's
    device_id: str | None = Field(default=None, pattern=NAME_PATTERN)
    location: Line | None = Field(default=None, max_length=500)  # free text: "hall B, door 3"
    # items to answer before it resolves (SPEC §8.4): up to 50 lines of up to 500 characters
    checklist: tuple[Annotated[Line, Field(min_length=1, max_length=500, pattern=r"\S")], ...] = (
        Field(default=(), max_length=50))
    requester: RequesterIn | None = None  # SPEC §8.4: gets a rating link once resolved


class DeadLetterPage(BaseModel):
    """The most recent rejected messages, newest first."""

    items: list[dict[str, Any]]
    total: int
    dropped: int = 0  # oldest records pushed out by newer ones (the record is bounded)
