"""Where operations (rules/operations/) step in as a signal becomes an incident: the protocol
the incident service calls inside its write transaction, so nothing is half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from rules.engine.models import Rule
from rules.engine.signals import Signal
from rules.incidents.record import TimelineEntry

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
