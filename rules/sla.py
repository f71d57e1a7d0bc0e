"""Service-level clocks: ticket respond/resolve deadlines and alert escalation intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

_MIN = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def _respond_defaults() -> dict[str, timedelta]:
    return {"P1": 15 * _MIN, "P2": 1 * _HOUR, "P3": 4 * _HOUR, "P4": 1 * _DAY}


def _resolve_defaults() -> dict[str, timedelta]:
    return {"P1": 4 * _HOUR, "P2": 24 * _HOUR, "P3": 3 * _DAY, "P4": 14 * _DAY}


def _escalation_defaults() -> dict[str, timedelta | None]:
    return {"critical": 5 * _MIN, "major": 15 * _MIN, "minor": None}


@dataclass(frozen=True)
class SlaPolicy:
    """Deadlines per ticket priority and escalation intervals per alert severity (SPEC §6)."""

    respond: dict[str, timedelta] = field(default_factory=_respond_defaults)  # first response
    resolve: dict[str, timedelta] = field(default_factory=_resolve_defaults)  # completion
    # Unacknowledged alerts escalate after this long, and again every interval; None: never.
    escalation: dict[str, timedelta | None] = field(default_factory=_escalation_defaults)

    def respond_within(self, priority: str) -> timedelta:
        """How long a ticket of this priority may wait for a first response."""
        return self.respond[priority]

    def resolve_within(self, priority: str) -> timedelta:
        """How long a ticket of this priority may take to resolve."""
        return self.resolve[priority]

    def escalate_after(self, severity: str) -> timedelta | None:
        """How long an alert of this severity may stay unacknowledged (None: never escalates)."""
        return self.escalation.get(severity)
