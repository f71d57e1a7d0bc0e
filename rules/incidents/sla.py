"""Service-level clocks: ticket respond/resolve deadlines and alert escalation intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

from rules.engine.durations import parse_duration

PRIORITIES = ("P1", "P2", "P3", "P4")
SEVERITIES = ("critical", "major", "minor")

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


class SlaConfigError(ValueError):
    """The SLA file is unreadable or invalid; the message names the file and the entry."""


def load_sla(path: str | Path | None) -> SlaPolicy:
    """SLA clocks from a YAML file (`respond`, `resolve`, `escalation` maps of durations, each
    entry overriding the SPEC §6 default; `null` escalation means never), or the defaults."""
    policy = SlaPolicy()
    if path is None:
        return policy
    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SlaConfigError(f"{path}: cannot read: {e}") from e
    if not isinstance(raw, dict) or set(raw) - {"respond", "resolve", "escalation"}:
        raise SlaConfigError(f"{path}: expected a map with respond, resolve and escalation")
    grades = {"respond": PRIORITIES, "resolve": PRIORITIES, "escalation": SEVERITIES}
    merged: dict[str, dict[str, timedelta | None]] = {}
    for clock, allowed in grades.items():
        entries = raw.get(clock) or {}
        merged[clock] = dict(getattr(policy, clock))
        if not isinstance(entries, dict):
            raise SlaConfigError(f"{path}: {clock}: expected a map of grade -> duration")
        for grade, value in entries.items():
            if grade not in allowed:
                raise SlaConfigError(f"{path}: {clock}.{grade}: grade must be one of {allowed}")
            if value is None and clock == "escalation":
                merged[clock][grade] = None
                continue
            try:
                merged[clock][grade] = timedelta(seconds=parse_duration(value))
            except ValueError as e:
                raise SlaConfigError(f"{path}: {clock}.{grade}: {e}") from e
    return SlaPolicy(
        respond={k: v for k, v in merged["respond"].items() if v is not None},
        resolve={k: v for k, v in merged["resolve"].items() if v is not None},
        escalation=merged["escalation"],
    )
