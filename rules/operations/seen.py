"""What a disablement hid and what a walk test saw: one row per (operation, rule, device),
with the first and last time, how often, and whether the condition last fired or cleared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from rules.db.schema import operation_signals, rule_state
from rules.engine.models import EventRule, RulePack
from rules.engine.parts import AlertSpec
from rules.engine.signals import Signal

Operation = Literal["disablement", "test"]


@dataclass(frozen=True)
class SeenSignal:
    """A rule's verdicts for one device during one operation."""

    rule_id: str
    device_id: str
    site: str
    zone: str | None
    device_kind: str | None
    first_at: datetime
    last_at: datetime
    count: int
    last_action: str  # fire | clear
    message: str


def record(conn: sa.Connection, operation: Operation, operation_id: int, signal: Signal,
           at: datetime) -> None:
    """Count the signal on the operation (a clear only updates a row a fire made)."""
    c = operation_signals.c
    key = (c.operation == operation, c.operation_id == operation_id,
           c.rule_id == signal.rule_id, c.device_id == signal.device_id)
    values: dict[str, Any] = {"last_at": at, "last_action": signal.action}
    if signal.action == "fire":
        values.update(count=c.count + 1, message=signal.message[:2000])
    updated = conn.execute(sa.update(operation_signals).where(*key).values(**values)).rowcount
    if updated or signal.action != "fire":
        return
    conn.execute(sa.insert(operation_signals).values(
        operation=operation, operation_id=operation_id, rule_id=signal.rule_id,
        device_id=signal.device_id, site=signal.site, zone=signal.zone,
        device_kind=signal.device_kind, first_at=at, last_at=at, count=1, last_action="fire",
        message=signal.message[:2000],
    ))


def listed(conn: sa.Connection, operation: Operation, operation_id: int) -> list[SeenSignal]:
    """Every signal row of one operation, first seen first."""
    c = operation_signals.c
    found = conn.execute(
        sa.select(operation_signals)
        .where(c.operation == operation, c.operation_id == operation_id)
        .order_by(c.first_at, c.id)
    ).all()
    return [SeenSignal(**{k: r._mapping[k] for k in SeenSignal.__dataclass_fields__})
            for r in found]


def still_present(conn: sa.Connection, seen: SeenSignal, *, stateless: bool,
                  stateless_latch: bool) -> bool:
    """Whether the condition behind `seen` holds now.

    A rule with evaluation state holds while its phase is `firing`; a `stateless` event rule
    (fires on each event, never clears) holds only if `stateless_latch` (a latching alert stays
    until a person resolves it) and its last verdict was a fire.
    """
    if seen.last_action != "fire":
        return False
    if stateless:
        return stateless_latch
    phase = conn.execute(
        sa.select(rule_state.c.phase).where(
            rule_state.c.rule_id == seen.rule_id, rule_state.c.device_id == seen.device_id
        )
    ).scalar()
    return bool(phase == "firing")


def replay(seen: SeenSignal, at: float, why: str) -> Signal:
    """The fire signal to apply again now that nothing hides it."""
    return Signal(seen.rule_id, "fire", seen.site, seen.device_id, at, seen.zone,
                  seen.device_kind, None, f"{why}: {seen.message}".strip(": "))


def presence(pack: RulePack, *, test: bool) -> Callable[[sa.Connection, SeenSignal], bool]:
    """`still_present` for the pack's rules: after a disablement a stateless latching alert
    rule's fire holds (nobody resolved it); after a walk test only evaluation state counts."""

    def present(conn: sa.Connection, hit: SeenSignal) -> bool:
        rule = pack.get(hit.rule_id)
        if rule is None:
            return False
        stateless = isinstance(rule, EventRule) and rule.clear_when is None
        latching = isinstance(rule.raises, AlertSpec) and rule.raises.latching
        return still_present(conn, hit, stateless=stateless,
                             stateless_latch=latching and not test)

    return present
