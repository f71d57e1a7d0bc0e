"""Backup signals beside a controller's own event: one incident, whichever arrives (17.2, 17.3).

A door controller that only reports `door_open` still raises "Door held open" after 30 s; a fire
panel whose `fire_alarm` event was lost still raises the fire alarm from `zones_in_alarm`; when
both arrive there is one alert, not two. A panel `reset` is written on the open fire alerts.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from devices.reading import Reading
from devices.registry import Registry, load_registry
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack, load_rules, parse_rules
from rules.engine.state import MemoryStateStore
from rules.incidents.panel_reset import PanelResets
from rules.incidents.record import Incident
from rules.incidents.service import IncidentService

T0 = 1_800_000_000.0  # Unix seconds; the fake clock starts here


class Site:
    """The sample site under the built-in pack, incidents in a real database, a fake clock."""

    def __init__(self, engine: sa.Engine) -> None:
        self.pack: RulePack = load_rules()
        self.registry: Registry = load_registry()
        self.evaluator = Evaluator(self.pack, MemoryStateStore())
        self.evaluator.watch_registry(self.registry, T0)
        self.incidents = IncidentService(engine, self.pack)
        self.resets = PanelResets(self.incidents, self.pack)

    def feed(self, device_id: str, at: float, **fields: Any) -> None:
        """One reading through the evaluator, its signals into the incident service."""
        d = self.registry.devices[device_id]
        reading = Reading(d.site, d.id, ts=at, received_at=at, kind=d.kind, zone=d.zone, **fields)
        for s in self.evaluator.evaluate(reading, at):
            self.incidents.apply(s)
        self.resets.observe(reading)

    def tick(self, at: float) -> None:
        """Let time pass to `at` (holds run out); only the devices' own signals are applied."""
        for s in self.evaluator.tick(at, {d: at for d in self.registry.devices}):
            self.incidents.apply(s)

    def alerts(self, device_id: str) -> list[Incident]:
        """Every alert of one device, oldest first."""
        items, _ = self.incidents.list(kind="alert", device_id=device_id, limit=500)
        return sorted(items, key=lambda i: i.id)


@pytest.fixture
def site(engine: sa.Engine) -> Site:
    return Site(engine)


def test_a_door_reporting_only_door_open_for_30_s_raises_door_held_open(site: Site) -> None:
    site.feed("door-03", T0, channel="telemetry", metrics={"door_open": True})
    site.tick(T0 + 20)
    assert site.alerts("door-03") == []
    site.tick(T0 + 31)
    [alert] = site.alerts("door-03")
    assert (alert.title, alert.severity, alert.state) == ("Door held open", "major", "active")
    site.feed("door-03", T0 + 40, channel="telemetry", metrics={"door_open": False})
    assert site.alerts("door-03")[0].state == "resolved"


def test_door_open_telemetry_and_the_held_open_event_together_raise_one_alert(
    site: Site,
) -> None:
    site.feed("door-04", T0, channel="telemetry", metrics={"door_open": True})
    site.tick(T0 + 31)
    site.feed("door-04", T0 + 31, channel="event", event="door_held_open")
    [alert] = site.alerts("door-04")
    assert alert.occurrences == 2
    site.feed("door-04", T0 + 60, channel="telemetry", metrics={"door_open": False})
    assert [a.state for a in site.alerts("door-04")] == ["resolved"]
    # The other order: the event first, then the telemetry's hold runs out.
    site.feed("door-04", T0 + 100, channel="event", event="door_held_open")
    site.feed("door-04", T0 + 101, channel="telemetry", metrics={"door_open": True})
    site.tick(T0 + 135)
    assert [a.state for a in site.alerts("door-04")] == ["resolved", "active"]


def test_zones_in_alarm_raise_the_fire_alarm_when_the_event_was_lost(site: Site) -> None:
    site.feed("fp-01", T0, channel="telemetry", metrics={"zones_in_alarm": 1, "mains_ok": True})
    [alert] = site.alerts("fp-01")
    assert (alert.rule_id, alert.severity, alert.latching) == ("fire_alarm", "critical", True)
    assert alert.runbook and "evacuation" in alert.runbook
    site.feed("fp-01", T0 + 5, channel="event", event="fire_alarm", data={"zone": "hall-a"})
    assert len(site.alerts("fp-01")) == 1  # the late event bumps it, no second alert
    site.feed("fp-01", T0 + 10, channel="telemetry", metrics={"zones_in_alarm": 0})
    assert site.alerts("fp-01")[0].state == "active"  # a fire alarm latches


def test_the_fire_alarm_event_then_zones_in_alarm_is_one_alert(site: Site) -> None:
    site.feed("fp-01", T0, channel="event", event="fire_alarm", data={"zone": "hall-b"})
    site.feed("fp-01", T0 + 1, channel="telemetry", metrics={"zones_in_alarm": 2})
    [alert] = site.alerts("fp-01")
    assert alert.occurrences == 2


def test_a_panel_reset_is_recorded_on_the_open_fire_alerts_of_its_site(site: Site) -> None:
    site.feed("sd-06", T0, channel="event", event="alarm")
    site.feed("fp-01", T0 + 1, channel="event", event="fire_alarm", data={"zone": "hall-a"})
    site.feed("door-01", T0 + 2, channel="event", event="door_forced_open")
    site.feed("fp-01", T0 + 60, channel="event", event="reset")
    fire = [*site.alerts("sd-06"), *site.alerts("fp-01")]
    for alert in fire:
        last = site.incidents.timeline(alert.id)[-1]
        assert (last.action, last.actor) == ("panel_reset", "device:fp-01"), alert.title
        assert alert.state == "active"  # recorded, not resolved: a person resolves a fire alarm
    door = site.alerts("door-01")[0]
    assert site.incidents.timeline(door.id)[-1].action != "panel_reset"


def test_a_rule_joining_an_unknown_rule_is_refused_naming_the_field() -> None:
    from rules.engine.loader import RuleError

    with pytest.raises(RuleError, match="joins"):
        parse_rules(
            "- {id: b, title: B, description: d, kind: threshold, metric: door_open,"
            " select: {kinds: [door]}, equals: true, joins: nowhere,"
            " raises: {type: alert, severity: major}}",
            "j.yaml",
        )
