"""Where operations (rules/operations/) step in as a signal becomes an incident: the protocol
the incident service calls inside its write transaction, so nothing is half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from devices.registry import Registry
from rules.engine.models import Rule, RulePack
from rules.engine.signals import Signal
from rules.incidents import opening
from rules.incidents.places import located
from rules.incidents.record import TimelineEntry
from rules.incidents.sla import SlaPolicy

Entries = list[TimelineEntry]


class SignalGate(Protocol):
    """Decides, per signal, whether it is hidden (disablement), marked (test) or grouped."""

    def fire(self, conn: sa.Connection, signal: Signal, rule: Rule, at: datetime,
             open_: Callable[[], Entries]) -> Entries:
        """Apply a fire signal: call `open_` (the normal opening) or hide the signal."""

    def clear(self, conn: sa.Connection, signal: Signal, at: datetime,
              clear_: Callable[[], Entries]) -> Entries:
        """Apply a clear signal: note it where it matters, then call `clear_`."""

    def opened(self, conn: sa.Connection, entries: Entries, at: datetime) -> Entries:
        """After any opening (a rule's or by hand): group alerts, mark tickets in windows."""


def apply_signal(conn: sa.Connection, signal: Signal, at: datetime, pack: RulePack,
                 sla: SlaPolicy, gate: SignalGate | None,
                 registry: Registry | None = None) -> Entries:
    """Open, bump or clear for one signal in the caller's transaction, through `gate` if any.

    A backup signal (its rule `joins` another) acts on the joined rule's incident; a fire
    names where the danger is (the zone its event reports, readable names)."""
    own = pack.get(signal.rule_id)
    rule = pack.get(own.joins) if own is not None and own.joins else own
    if signal.action == "clear":
        rule_id = rule.id if rule is not None else None

        def clear() -> Entries:
            return opening.clear(conn, signal, at, rule_id)
        return clear() if gate is None else gate.clear(conn, signal, at, clear)
    if rule is None:
        return []
    signal, location = located(signal, registry)

    def fire() -> Entries:
        return opening.fire(conn, signal, rule, sla, at, location)
    return fire() if gate is None else gate.fire(conn, signal, rule, at, fire)
