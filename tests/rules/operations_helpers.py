"""Shared parts of the operations tests: the built-in pack and site, a clock stepped by hand,
signals as the evaluator makes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from devices.registry import load_registry
from rules.engine.loader import load_rules
from rules.engine.signals import Signal
from rules.incidents.record import Incident
from rules.incidents.service import IncidentService
from rules.operations.plans import load_plans
from rules.operations.service import Operations

T0 = 1_795_000_000.0  # Unix seconds: a fixed start for every clock here
ZONES = {"door-01": "reception", "sd-06": "hall-a", "sd-07": "hall-a", "fp-01": "hall-a",
         "hd-01": "kitchen", "zs-04": "hall-a", "ahu-01": "plant", "zs-01": "reception"}
KINDS = {"door": "door", "sd": "smoke_detector", "fp": "fire_panel", "hd": "heat_detector",
         "zs": "zone_sensor", "ahu": "air_handler"}


class Clock:
    """A clock a test steps by hand (Unix seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, offset_s: float) -> datetime:
        """An aware datetime `offset_s` seconds from now."""
        return datetime.fromtimestamp(self.now + offset_s, UTC)


@dataclass
class Site:
    """The incident service and operations over one database, on one hand-stepped clock."""

    engine: sa.Engine
    clock: Clock
    incidents: IncidentService
    ops: Operations

    def signal(self, rule_id: str, device_id: str, action: str = "fire",
               message: str = "") -> list[int]:
        """Apply a signal as the evaluator would at the clock's now; the incidents touched."""
        kind = KINDS[device_id.split("-")[0]]
        sig = Signal(rule_id, action, "hq", device_id, self.clock.now,  # type: ignore[arg-type]
                     ZONES.get(device_id), kind, None, message or f"{rule_id} on {device_id}")
        return sorted({e.incident_id for e in self.incidents.apply(sig)})

    def open_of(self, rule_id: str, device_id: str) -> list[Incident]:
        """Open incidents of (rule, device)."""
        items, _ = self.incidents.list(device_id=device_id, open_only=True)
        return [i for i in items if i.rule_id == rule_id]


def make_site(engine: sa.Engine, clock: Clock | None = None) -> Site:
    """Built-in pack and sample site with operations installed, on `clock`."""
    clock = clock or Clock()
    pack = load_rules(None)
    incidents = IncidentService(engine, pack, clock=clock)
    ops = Operations(engine, incidents, load_registry(None), pack, load_plans(None),
                     clock=clock).install()
    return Site(engine, clock, incidents, ops)


def set_phase(engine: sa.Engine, rule_id: str, device_id: str, phase: str) -> None:
    """Write a rule's evaluation phase for a device, as the evaluator saves it."""
    from rules.db.schema import rule_state

    with engine.begin() as conn:
        conn.execute(rule_state.delete().where(rule_state.c.rule_id == rule_id,
                                               rule_state.c.device_id == device_id))
        conn.execute(rule_state.insert().values(rule_id=rule_id, device_id=device_id,
                                                phase=phase, since=T0, memo={}, site="hq",
                                                zone=ZONES.get(device_id)))
