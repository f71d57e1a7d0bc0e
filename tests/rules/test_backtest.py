"""Backtest replay on the data's own clock, and its diff against recorded incidents."""

from __future__ import annotations

from devices.registry import Device, Registry
from rules.engine.backtest import Recorded, WouldOpen, diff, replay
from rules.engine.loader import parse_rules
from tests.rules.test_evaluator import ev, tel

T0 = 1_800_000_000.0

RULES = parse_rules("""
- id: hot
  title: Hot
  description: Zone too warm
  kind: threshold
  select: {kinds: [zone_sensor]}
  metric: temperature_c
  above: 28
  hold: 15m
  clear: 26
  raises: {type: ticket, priority: P3, auto_resolve: true}
- id: forced
  title: Door forced
  description: Forced
  kind: event
  select: {kinds: [door]}
  event: door_forced_open
  raises: {type: alert, severity: major, latching: true}
- id: silent
  title: Silent
  description: No data
  kind: stale
  select: {kinds: [zone_sensor]}
  intervals: 3
  raises: {type: ticket, priority: P1, auto_resolve: true}
""", "test.yaml")


def test_a_hold_fires_when_it_runs_out_on_the_data_clock_and_resolves_when_it_clears() -> None:
    readings = [tel("zs-1", T0 + 60 * i, temperature_c=30.0 if i < 20 else 25.0)
                for i in range(30)]
    result = replay(RULES, readings, T0, T0 + 1800)
    assert [(w.rule, w.opened_at, w.resolved_at) for w in result.would_open] == [
        ("hot", T0 + 900, T0 + 1200)]
    assert result.readings == 30


def test_a_latching_alert_stays_open_and_a_repeat_opens_nothing_more() -> None:
    readings = [ev("door-1", T0 + 5, "door_forced_open"), ev("door-1", T0 + 50, "door_forced_open")]
    result = replay(RULES, readings, T0, T0 + 100)
    assert [(w.rule, w.device_id, w.opened_at, w.resolved_at) for w in result.would_open] == [
        ("forced", "door-1", T0 + 5, None)]


def test_a_registered_device_that_falls_silent_goes_stale_three_intervals_after_its_last_data(
) -> None:
    registry = Registry.from_devices(
        [Device(id="zs-1", kind="zone_sensor", site="hq", zone="office-1", interval_s=10)])
    readings = [tel("zs-1", T0 + 10 * i, temperature_c=21.0) for i in range(6)]
    readings.append(tel("zs-1", T0 + 200, temperature_c=21.0))
    result = replay(RULES, readings, T0, T0 + 300, registry)
    assert [(w.rule, w.opened_at, w.resolved_at) for w in result.would_open] == [
        ("silent", T0 + 80, T0 + 200), ("silent", T0 + 230, None)]


def test_an_empty_period_gives_an_empty_result() -> None:
    result = replay(RULES, [], T0, T0 + 3600)
    assert (result.would_open, result.readings) == ([], 0)
    assert diff(result, []).as_json() == {"would_open": [],
                                          "diff": {"new": [], "gone": [], "moved": []}}


def test_the_diff_names_new_gone_and_moved_incidents_and_ignores_clock_jitter() -> None:
    result = replay(RULES, [], T0, T0 + 1)
    result.would_open = [
        WouldOpen("hot", "zs-1", T0 + 100),  # recorded 0.3 s later: the same incident
        WouldOpen("hot", "zs-2", T0 + 100),  # recorded 60 s later: moved earlier
        WouldOpen("forced", "door-1", T0 + 5),  # never recorded: new
    ]
    recorded = [
        Recorded(1, "hot", "zs-1", T0 + 100.3, None),
        Recorded(2, "hot", "zs-2", T0 + 160, None),
        Recorded(3, "silent", "zs-3", T0 + 40, T0 + 90),  # not opened by the replay: gone
    ]
    out = diff(result, recorded).as_json()
    assert [(w["rule"], w["device_id"]) for w in out["diff"]["new"]] == [("forced", "door-1")]
    assert [g["incident_id"] for g in out["diff"]["gone"]] == [3]
    (moved,) = out["diff"]["moved"]
    assert (moved["incident_id"], moved["direction"], moved["by_s"]) == (2, "earlier", -60.0)
    assert set(out) == {"would_open", "diff"}
    assert set(out["would_open"][0]) == {"rule", "device_id", "opened_at", "resolved_at"}
