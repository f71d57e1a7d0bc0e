"""An alert names where the danger is: the event's zone and readable names (issue 17.11)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from devices.reading import Reading
from devices.registry import load_registry
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.state import MemoryStateStore
from rules.incidents.service import IncidentService
from rules.notify.mailer import mail_text

T0 = 1_800_000_000.0  # Unix seconds


def _raise(engine: sa.Engine, device_id: str, event: str, **data: str) -> IncidentService:
    pack, registry = load_rules(), load_registry()
    incidents = IncidentService(engine, pack, registry=registry)
    d = registry.devices[device_id]
    reading = Reading(d.site, d.id, "event", T0, T0, kind=d.kind, zone=d.zone, event=event,
                      data=data)
    for signal in Evaluator(pack, MemoryStateStore()).evaluate(reading, T0):
        incidents.apply(signal)
    return incidents


def test_a_panel_fire_alarm_names_the_zone_in_alarm_not_the_panel_s_room(
    engine: sa.Engine,
) -> None:
    incidents = _raise(engine, "fp-01", "fire_alarm", zone="hall-a")
    [alert], _ = incidents.list(kind="alert")
    assert alert.zone == "hall-a"
    assert alert.location == "Consulting hall A - Main fire panel (fp-01, in Plant room)"
    payload = {"incident": dataclasses.asdict(alert) | {"opened_at": "t", "last_seen_at": "t"},
               "change": {"action": "opened", "actor": "rule:fire_alarm", "at": "t", "note": ""}}
    assert "location: Consulting hall A - Main fire panel" in mail_text(payload)[1]


def test_a_detector_s_alarm_keeps_its_own_zone_with_readable_names(engine: sa.Engine) -> None:
    incidents = _raise(engine, "sd-06", "alarm")
    [alert], _ = incidents.list(kind="alert")
    assert alert.zone == "hall-a"
    assert alert.location == "Consulting hall A - Smoke detector 6 (Consulting hall A) (sd-06)"
