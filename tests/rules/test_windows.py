"""Maintenance windows: stored, time-bounded, about a device or a zone; tickets only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from rules.notify.windows import MaintenanceWindows

T0 = 1_795_773_600.0  # 2026-11-27 10:00:00 UTC
PACK = """
- id: fire-alarm
  title: Fire alarm
  description: A smoke detector is in alarm.
  kind: event
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, latching: true, runbook: "Evacuate."}
"""


@pytest.fixture
def service(engine: sa.Engine) -> IncidentService:
    return IncidentService(engine, parse_rules(PACK), clock=lambda: T0)


def test_a_zone_window_mutes_tickets_in_that_zone_only_while_it_is_open(
    engine: sa.Engine, service: IncidentService
) -> None:
    windows = MaintenanceWindows(engine)
    windows.add(start_at=T0, end_at=T0 + 3600, zone="plant", site="hq", reason="overhaul")
    in_plant = service.open_ticket(title="t", description="", department="maintenance",
                                   priority="P3", actor="test", site="hq", zone="plant")
    elsewhere = service.open_ticket(title="t", description="", department="maintenance",
                                    priority="P3", actor="test", site="hq", zone="kitchen")
    other_site = service.open_ticket(title="t", description="", department="maintenance",
                                     priority="P3", actor="test", site="annex", zone="plant")
    assert windows.mutes(in_plant, T0) and windows.mutes(in_plant, T0 + 3599)
    assert not windows.mutes(in_plant, T0 - 1) and not windows.mutes(in_plant, T0 + 3600)
    assert not windows.mutes(elsewhere, T0) and not windows.mutes(other_site, T0)


def test_a_device_window_never_mutes_an_alert_of_that_device(
    engine: sa.Engine, service: IncidentService
) -> None:
    windows = MaintenanceWindows(engine)
    windows.add(start_at=T0, end_at=T0 + 3600, device_id="sd-1", reason="detector swap")
    (opened,) = service.apply(Signal("fire-alarm", "fire", "hq", "sd-1", T0, zone="plant"))
    alert = service.get(opened.incident_id)
    ticket = service.open_ticket(title="t", description="", department="maintenance",
                                 priority="P3", actor="test", site="hq", device_id="sd-1")
    assert windows.mutes(ticket, T0)
    assert not windows.mutes(alert, T0)


def test_windows_outlive_the_object_and_can_be_removed(engine: sa.Engine) -> None:
    w = MaintenanceWindows(engine).add(start_at=T0, end_at=T0 + 60, zone="plant")
    again = MaintenanceWindows(engine)
    assert [x.id for x in again.list(active_at=T0 + 30)] == [w.id]
    assert again.list(active_at=T0 + 60) == []
    assert again.remove(w.id) and not again.remove(w.id)
    assert again.list() == []


def test_a_window_needs_exactly_one_of_device_or_zone_and_a_positive_length(
    engine: sa.Engine,
) -> None:
    windows = MaintenanceWindows(engine)
    with pytest.raises(ValueError, match="either one device or one zone"):
        windows.add(start_at=T0, end_at=T0 + 60, zone="plant", device_id="ahu-1")
    with pytest.raises(ValueError, match="end after it starts"):
        windows.add(start_at=T0, end_at=T0, zone="plant")
