"""The built-in rule pack: it loads, passes `rules check`, and raises what SPEC §6 asks."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from devices.kinds import KINDS
from devices.reading import Reading
from devices.registry import Registry, load_registry
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack, check_rules_file, load_rules
from rules.engine.parts import AlertSpec, TicketSpec
from rules.engine.signals import Signal
from rules.engine.state import MemoryStateStore

T0 = 1_800_000_000.0  # Unix seconds; the fake clock starts here


@pytest.fixture(scope="module")
def pack() -> RulePack:
    """The built-in pack."""
    return load_rules()


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The built-in sample site."""
    return load_registry()


class Site:
    """The sample site under the built-in pack, with a fake clock."""

    def __init__(self, pack: RulePack, registry: Registry) -> None:
        self.registry = registry
        self.evaluator = Evaluator(pack, MemoryStateStore(), self.interval_of)
        self.evaluator.watch_registry(registry, T0)

    def interval_of(self, device_id: str) -> float | None:
        """The registry's reporting interval of a device."""
        d = self.registry.devices.get(device_id)
        return (d.interval_s or d.spec.interval_s) if d else None

    def _reading(self, device_id: str, at: float, **fields: Any) -> Reading:
        d = self.registry.devices[device_id]
        return Reading(d.site, d.id, ts=at, received_at=at, kind=d.kind, zone=d.zone, **fields)

    def telemetry(self, device_id: str, at: float, **metrics: Any) -> list[Signal]:
        """Feed one telemetry reading at `at`; the signals."""
        return self.evaluator.evaluate(
            self._reading(device_id, at, channel="telemetry", metrics=metrics), at
        )

    def tick(self, at: float, device_id: str) -> list[Signal]:
        """Tick the clock to `at`; the signals for this device (others fall stale meanwhile)."""
        return [s for s in self.evaluator.tick(at) if s.device_id == device_id]

    def event(self, device_id: str, at: float, name: str, **data: Any) -> list[Signal]:
        """Feed one event at `at`; the signals."""
        return self.evaluator.evaluate(
            self._reading(device_id, at, channel="event", event=name, data=data), at
        )


@pytest.fixture
def site(pack: RulePack, registry: Registry) -> Site:
    """A fresh evaluator over the sample site."""
    return Site(pack, registry)


def raised(pack: RulePack, signals: list[Signal]) -> list[tuple[str, str, str]]:
    """(rule, action, grade) of each signal: severity for alerts, priority for tickets."""
    out = []
    for s in signals:
        rule = pack.get(s.rule_id)
        assert rule is not None
        grade = rule.raises.severity if isinstance(rule.raises, AlertSpec) else rule.raises.priority
        out.append((s.rule_id, s.action, grade))
    return out


def test_the_built_in_pack_loads_and_passes_rules_check(pack: RulePack) -> None:
    path = Path(str(resources.files("rules.engine").joinpath("pack.yaml")))
    assert check_rules_file(path) == []
    assert len(pack) >= 15 and pack.source == "built-in pack.yaml"


def test_every_device_kind_is_watched_by_some_rule(pack: RulePack) -> None:
    covered = {k for r in pack.rules for k in r.select.kinds}
    assert covered == set(KINDS)


def test_fire_and_intrusion_alerts_carry_a_runbook_a_guard_can_follow(pack: RulePack) -> None:
    for rule_id in ("fire_alarm", "call_point_activated", "door_forced"):
        rule = pack.get(rule_id)
        assert rule is not None and isinstance(rule.raises, AlertSpec)
        assert rule.raises.severity == "critical" and rule.raises.latching
        assert rule.raises.department == "security"
        assert rule.raises.runbook.count("\n") >= 5
    fire = pack.get("fire_alarm")
    assert fire is not None and isinstance(fire.raises, AlertSpec)
    for step in ("fire brigade", "escape route", "muster point", "Do NOT silence, reset"):
        assert step in fire.raises.runbook
    door = pack.get("door_forced")
    assert door is not None and isinstance(door.raises, AlertSpec)
    assert "police" in door.raises.runbook and "CCTV" in door.raises.runbook


def test_departments_route_fire_and_access_to_security_and_wear_to_maintenance(
    pack: RulePack,
) -> None:
    departments = {r.id: r.raises.department for r in pack.rules}
    assert departments["co2_high"] == "environment"
    assert departments["filter_clogged"] == departments["life_safety_stale"] == "maintenance"
    assert {departments[i] for i in ("fire_alarm", "door_forced", "door_held_open")} == {
        "security"
    }
    trouble = pack.get("fire_trouble")
    assert trouble is not None and isinstance(trouble.raises, AlertSpec)
    assert trouble.raises.linked_ticket is not None
    assert trouble.raises.linked_ticket.priority == "P2"


def test_fire_call_point_and_detector_events_raise_critical_alerts(
    site: Site, pack: RulePack
) -> None:
    assert raised(pack, site.event("fp-01", T0, "fire_alarm", zone="hall-a")) == [
        ("fire_alarm", "fire", "critical")
    ]
    assert raised(pack, site.event("mcp-03", T0, "activated")) == [
        ("call_point_activated", "fire", "critical")
    ]
    assert raised(pack, site.event("sd-04", T0, "alarm")) == [
        ("detector_alarm", "fire", "critical")
    ]
    assert raised(pack, site.event("sd-04", T0, "trouble")) == [("fire_trouble", "fire", "major")]


def test_smoke_obscuration_and_a_fast_heat_rise_raise_critical_alerts(
    site: Site, pack: RulePack
) -> None:
    assert site.telemetry("sd-02", T0, smoke_obscuration_pct_per_m=0.4) == []
    assert raised(pack, site.telemetry("sd-02", T0 + 60, smoke_obscuration_pct_per_m=3.4)) == [
        ("smoke_obscuration", "fire", "critical")
    ]
    signals: list[Signal] = []
    for i, temp in enumerate([22.0, 22.1, 31.0, 40.0]):  # a minute apart
        signals += site.telemetry("hd-03", T0 + 60 * i, temperature_c=temp)
    assert raised(pack, signals) == [("heat_rise", "fire", "critical")]


def test_door_forced_held_and_five_denials_raise_their_alerts(site: Site, pack: RulePack) -> None:
    assert raised(pack, site.event("door-02", T0, "door_forced_open", reader="R2")) == [
        ("door_forced", "fire", "critical")
    ]
    assert raised(pack, site.event("door-03", T0, "door_held_open")) == [
        ("door_held_open", "fire", "major")
    ]
    held = pack.get("door_held_open")
    assert held is not None and isinstance(held.raises, AlertSpec) and not held.raises.latching
    assert raised(pack, site.telemetry("door-03", T0 + 40, door_open=False)) == [
        ("door_held_open", "clear", "major")
    ]
    denials: list[Signal] = []
    for i in range(5):
        denials += site.event("door-01", T0 + 20 * i, "access_denied", card="123")
    assert raised(pack, denials) == [("access_denied_burst", "fire", "major")]


def test_a_clogged_filter_raises_a_p4_ticket_after_five_minutes(site: Site, pack: RulePack) -> None:
    assert site.telemetry("ahu-02", T0, filter_dp_pa=262.0, fan_running=True) == []
    assert site.tick(T0 + 299, "ahu-02") == []
    assert raised(pack, site.tick(T0 + 300, "ahu-02")) == [("filter_clogged", "fire", "P4")]


def test_zone_heat_and_co2_raise_p3_tickets_after_their_holds_and_clear_with_hysteresis(
    site: Site, pack: RulePack
) -> None:
    assert site.telemetry("zs-04", T0, temperature_c=28.6, co2_ppm=1650) == []
    assert raised(pack, site.tick(T0 + 600, "zs-04")) == [("co2_high", "fire", "P3")]
    assert raised(pack, site.tick(T0 + 900, "zs-04")) == [("zone_overheat", "fire", "P3")]
    assert site.telemetry("zs-04", T0 + 960, temperature_c=27.0, co2_ppm=1200) == []
    assert raised(pack, site.telemetry("zs-04", T0 + 1020, temperature_c=25.8, co2_ppm=900)) == [
        ("zone_overheat", "clear", "P3"), ("co2_high", "clear", "P3")
    ]


def test_silent_life_safety_devices_raise_p1_tickets_after_three_intervals(
    site: Site, pack: RulePack, registry: Registry
) -> None:
    for d in registry.devices.values():  # everyone reports once at T0
        site.telemetry(d.id, T0)
    assert site.evaluator.tick(T0 + 89) == []
    panel = site.evaluator.tick(T0 + 90)  # the fire panel reports every 30 s
    assert [(s.rule_id, s.device_id) for s in panel] == [("life_safety_stale", "fp-01")]
    later = site.evaluator.tick(T0 + 180)  # detectors every 60 s; call points every 300 s
    stale = {s.device_id for s in later}
    fire_detectors = {i for i, d in registry.devices.items()
                      if d.kind in ("smoke_detector", "heat_detector")}
    assert stale == fire_detectors
    assert {s.device_id for s in site.evaluator.tick(T0 + 900)} == {
        i for i, d in registry.devices.items() if d.kind == "manual_call_point"
    }
    assert raised(pack, panel) == [("life_safety_stale", "fire", "P1")]


def test_maintenance_signals_from_panel_and_air_handlers(site: Site, pack: RulePack) -> None:
    assert raised(pack, site.event("fp-01", T0, "supervisory")) == [
        ("fire_supervisory", "fire", "P2")
    ]
    site.telemetry("fp-01", T0, mains_ok=False)
    assert raised(pack, site.tick(T0 + 60, "fp-01")) == [("fire_panel_mains_lost", "fire", "P1")]
    assert raised(pack, site.event("ahu-01", T0, "fault", code="E12")) == [
        ("ahu_fault", "fire", "P2")
    ]
    site.telemetry("sd-07", T0, battery_pct=15.0)
    assert site.telemetry("sd-07", T0 + 590, battery_pct=14.5) == []  # reporting, still low
    assert raised(pack, site.tick(T0 + 600, "sd-07")) == [("detector_low_battery", "fire", "P2")]
    assert raised(pack, site.event("door-04", T0, "tamper")) == [("tamper", "fire", "major")]


def test_tickets_that_follow_their_condition_say_so(pack: RulePack) -> None:
    auto = {r.id for r in pack.rules if isinstance(r.raises, TicketSpec) and r.raises.auto_resolve}
    assert {"zone_overheat", "co2_high", "life_safety_stale"} <= auto
    assert "filter_clogged" not in auto


def test_a_fire_alarm_from_an_unregistered_device_is_a_critical_alert_and_only_once(
    pack: RulePack, site: Site
) -> None:
    unknown = Reading("hq", "sd-unknown-9", "event", T0, T0, event="alarm")
    assert raised(pack, site.evaluator.evaluate(unknown, T0)) == [
        ("unregistered_fire_alarm", "fire", "critical")
    ]
    # A registered detector's alarm raises its own rule, not the unregistered one as well.
    assert [s.rule_id for s in site.event("sd-01", T0, "alarm")] == ["detector_alarm"]


def test_a_fire_device_reporting_offline_is_a_p1_ticket_that_clears_when_it_is_back(
    pack: RulePack, site: Site, registry: Registry
) -> None:
    d = registry.devices["sd-02"]

    def status(state: str, at: float) -> list[Signal]:
        r = Reading(d.site, d.id, "status", at, at, kind=d.kind, zone=d.zone, status=state)
        return site.evaluator.evaluate(r, at)

    assert raised(pack, status("offline", T0 + 1)) == [("life_safety_offline", "fire", "P1")]
    assert raised(pack, status("online", T0 + 60)) == [("life_safety_offline", "clear", "P1")]


def test_runtime_hours_service_has_one_source_of_truth_the_schedule(
    site: Site, pack: RulePack
) -> None:
    # Issue 17.1: the pack's meter rule and the schedule both opened a P3 ticket at each
    # 2000 h. The schedule (rules/maintenance/schedules.yaml) is the one source of truth.
    from rules.maintenance.config import load_schedules

    assert site.telemetry("ahu-01", T0, runtime_hours=3999.2) == []
    assert site.telemetry("ahu-01", T0 + 3600, runtime_hours=4000.2) == []
    metered = {(s.meter.metric, k) for s in load_schedules() if s.meter for k in s.device_kinds}
    assert ("runtime_hours", "air_handler") in metered
    assert not [r for r in pack.rules if r.kind == "meter"]
