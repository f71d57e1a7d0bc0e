"""The evaluator's state machine per rule kind, stepped with a fake clock (no sleeps)."""

from __future__ import annotations

import copy
from typing import Any

from devices.reading import Reading
from rules.engine.evaluator import Evaluator
from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.engine.state import MemoryStateStore, RuleState, StateKey

T0 = 1_800_000_000.0  # Unix seconds; the fake clock starts here


class DurableStore(MemoryStateStore):
    """A MemoryStateStore that keeps copies, like a database: unsaved changes are lost."""

    def save(self, key: StateKey, state: RuleState) -> None:
        """Keep a snapshot of the state as it is now."""
        self.states[key] = copy.deepcopy(state)

    def load_all(self) -> dict[StateKey, RuleState]:
        """Fresh copies of everything saved."""
        return copy.deepcopy(self.states)


def tel(device: str, at: float, kind: str | None = "zone_sensor", zone: str | None = "office-1",
        site: str = "hq", **metrics: Any) -> Reading:
    """A telemetry reading stamped `at`."""
    return Reading(site, device, "telemetry", at, at, kind=kind, zone=zone, metrics=metrics)


def ev(device: str, at: float, name: str, kind: str | None = "door",
       zone: str | None = "reception", site: str = "hq", **data: Any) -> Reading:
    """An event reading stamped `at`."""
    return Reading(site, device, "event", at, at, kind=kind, zone=zone, event=name, data=data)


def status(device: str, at: float, value: str, kind: str | None = "door") -> Reading:
    """A status reading (online/offline)."""
    return Reading("hq", device, "status", at, at, kind=kind, zone="reception", status=value)


def make(rules_yaml: str, store: MemoryStateStore | None = None,
         interval: float | None = None) -> Evaluator:
    """An evaluator over these rules and a durable in-memory store."""
    return Evaluator(parse_rules(rules_yaml, "test.yaml"), store or DurableStore(),
                     lambda _d: interval)


def actions(signals: list[Signal]) -> list[tuple[str, str, str]]:
    """(rule, action, device) of each signal."""
    return [(s.rule_id, s.action, s.device_id) for s in signals]


HOT = """
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
"""


def test_threshold_fires_when_the_hold_runs_out_and_not_before() -> None:
    e = make(HOT)
    assert e.evaluate(tel("zs-1", T0, temperature_c=29.0), T0) == []
    assert e.evaluate(tel("zs-1", T0 + 600, temperature_c=29.5), T0 + 600) == []
    assert e.tick(T0 + 899) == []
    fired = e.tick(T0 + 900)
    assert actions(fired) == [("hot", "fire", "zs-1")]
    assert fired[0].at == T0 + 900 and fired[0].zone == "office-1"
    assert fired[0].device_kind == "zone_sensor" and "for 15m" in fired[0].message
    assert e.tick(T0 + 2000) == []


def test_threshold_fires_on_a_reading_past_the_due_time() -> None:
    e = make(HOT)
    e.evaluate(tel("zs-1", T0, temperature_c=29.0), T0)
    fired = e.evaluate(tel("zs-1", T0 + 960, temperature_c=29.2), T0 + 960)
    assert actions(fired) == [("hot", "fire", "zs-1")]
    assert fired[0].value == 29.2


def test_a_value_back_under_the_limit_cancels_the_pending_hold() -> None:
    store = DurableStore()
    e = make(HOT, store)
    e.evaluate(tel("zs-1", T0, temperature_c=29.0), T0)
    assert store.states[("hot", "zs-1")].phase == "pending"
    e.evaluate(tel("zs-1", T0 + 300, temperature_c=27.0), T0 + 300)
    assert store.states == {}
    assert e.tick(T0 + 900) == []
    e.evaluate(tel("zs-1", T0 + 400, temperature_c=29.0), T0 + 400)
    assert e.tick(T0 + 1299) == []
    assert actions(e.tick(T0 + 1300)) == [("hot", "fire", "zs-1")]


def test_hysteresis_stops_flapping_around_the_threshold() -> None:
    e = make(HOT.replace("hold: 15m", "hold: 0"))
    signals: list[Signal] = []
    t = T0
    for value in [29.0, 27.9, 28.1, 27.5, 28.4, 26.5, 28.2, 26.1]:
        signals += e.evaluate(tel("zs-1", t, temperature_c=value), t)
        t += 60
    assert actions(signals) == [("hot", "fire", "zs-1")]
    cleared = e.evaluate(tel("zs-1", t, temperature_c=25.9), t)
    assert actions(cleared) == [("hot", "clear", "zs-1")]
    assert "25.9 <= 26" in cleared[0].message


def test_missing_data_never_clears_a_firing_threshold() -> None:
    e = make(HOT.replace("hold: 15m", "hold: 0"))
    e.evaluate(tel("zs-1", T0, temperature_c=30.0), T0)
    assert e.tick(T0 + 86_400) == []
    assert e.evaluate(tel("zs-1", T0 + 86_401, temperature_c=29.0), T0 + 86_401) == []


def test_clear_hold_needs_fresh_data_past_the_clear_level_for_its_whole_length() -> None:
    e = make(HOT.replace("hold: 15m", "hold: 0\n  clear_hold: 5m"))
    e.evaluate(tel("zs-1", T0, temperature_c=30.0), T0)
    assert e.evaluate(tel("zs-1", T0 + 60, temperature_c=25.0), T0 + 60) == []
    assert e.tick(T0 + 1000) == []  # the clear hold never completes without data
    assert e.evaluate(tel("zs-1", T0 + 200, temperature_c=27.0), T0 + 200) == []  # back up
    assert e.evaluate(tel("zs-1", T0 + 260, temperature_c=25.0), T0 + 260) == []
    assert e.evaluate(tel("zs-1", T0 + 500, temperature_c=25.0), T0 + 500) == []
    assert actions(e.evaluate(tel("zs-1", T0 + 560, temperature_c=25.0), T0 + 560)) == [
        ("hot", "clear", "zs-1")
    ]


MAINS = """
- id: mains
  title: Mains lost
  description: Panel on battery
  kind: threshold
  select: {kinds: [fire_panel]}
  metric: mains_ok
  equals: false
  hold: 1m
  raises: {type: ticket, priority: P1, auto_resolve: true}
"""


def test_an_equals_threshold_fires_on_a_boolean_and_clears_when_it_flips_back() -> None:
    e = make(MAINS)
    r = lambda at, ok: tel("fp-1", at, kind="fire_panel", zone="plant", mains_ok=ok)  # noqa: E731
    assert e.evaluate(r(T0, False), T0) == []
    assert actions(e.evaluate(r(T0 + 61, False), T0 + 61)) == [("mains", "fire", "fp-1")]
    assert e.evaluate(r(T0 + 62, 0), T0 + 62) == []  # a number is not a boolean: no verdict
    assert actions(e.evaluate(r(T0 + 90, True), T0 + 90)) == [("mains", "clear", "fp-1")]


def test_a_restart_resumes_a_pending_hold_and_fires_at_the_original_due_time() -> None:
    store = DurableStore()
    before = make(HOT, store)
    before.evaluate(tel("zs-1", T0, temperature_c=29.0), T0)
    before.evaluate(tel("zs-1", T0 + 600, temperature_c=29.3), T0 + 600)  # 10 min into 15
    after = make(HOT, store)  # a new process over the same durable store
    assert after.tick(T0 + 899) == []
    assert actions(after.tick(T0 + 900)) == [("hot", "fire", "zs-1")]


def test_a_restart_does_not_re_fire_what_is_firing() -> None:
    store = DurableStore()
    make(HOT.replace("hold: 15m", "hold: 0"), store).evaluate(
        tel("zs-1", T0, temperature_c=30.0), T0
    )
    after = make(HOT.replace("hold: 15m", "hold: 0"), store)
    assert after.evaluate(tel("zs-1", T0 + 60, temperature_c=31.0), T0 + 60) == []
    assert actions(after.evaluate(tel("zs-1", T0 + 120, temperature_c=25.0), T0 + 120)) == [
        ("hot", "clear", "zs-1")
    ]


HEAT = """
- id: heat_rise
  title: Heat rise
  description: Fast temperature rise
  kind: rate_of_change
  select: {kinds: [heat_detector]}
  metric: temperature_c
  per_minute_above: 8
  window: 2m
  raises: {type: alert, severity: critical, runbook: Evacuate.}
"""


def heat(at: float, value: float) -> Reading:
    """A heat detector reading stamped `at`."""
    return tel("hd-1", at, kind="heat_detector", zone="kitchen", temperature_c=value)


def test_rate_of_change_fires_on_a_fast_rise_and_clears_when_it_levels_off() -> None:
    e = make(HEAT)
    signals: list[Signal] = []
    for i, value in enumerate([21.0, 21.5, 22.0, 26.0, 31.0, 39.0]):  # one reading per 30 s
        signals += e.evaluate(heat(T0 + 30 * i, value), T0 + 30 * i)
    assert actions(signals) == [("heat_rise", "fire", "hd-1")]
    assert signals[0].at == T0 + 150  # 39 - 21.5 over 120 s = 8.75 °C/min
    assert signals[0].value == 8.75
    more: list[Signal] = []
    for i, value in enumerate([40.0, 40.2, 40.3, 40.3, 40.4], start=6):
        more += e.evaluate(heat(T0 + 30 * i, value), T0 + 30 * i)
    assert actions(more) == [("heat_rise", "clear", "hd-1")]


def test_rate_of_change_ignores_a_slow_rise_and_waits_for_half_a_window_of_samples() -> None:
    e = make(HEAT)
    assert e.evaluate(heat(T0, 20.0), T0) == []
    assert e.evaluate(heat(T0 + 10, 40.0), T0 + 10) == []  # 10 s is too short to judge
    e2 = make(HEAT)
    signals: list[Signal] = []
    for i in range(20):  # 4 °C/min for ten minutes
        signals += e2.evaluate(heat(T0 + 30 * i, 20.0 + 2.0 * i), T0 + 30 * i)
    assert signals == []


def test_rate_of_change_measures_on_reading_time_so_a_delivered_backlog_is_not_a_spike() -> None:
    e = make(HEAT)
    burst_at = T0 + 1000  # five readings a minute apart arrive in the same instant
    signals: list[Signal] = []
    for i in range(5):
        signals += e.evaluate(heat(T0 + 60 * i, 20.0 + 3.0 * i), burst_at)
    assert signals == []


DENIED = """
- id: denied
  title: Denials
  description: Repeated access denied
  kind: count
  select: {kinds: [door]}
  event: access_denied
  count: 5
  window: 2m
  raises: {type: alert, severity: major, latching: true}
"""


def test_count_fires_once_when_the_window_reaches_n() -> None:
    e = make(DENIED)
    signals: list[Signal] = []
    for i in range(8):
        signals += e.evaluate(ev("door-1", T0 + 10 * i, "access_denied"), T0 + 10 * i)
    assert actions(signals) == [("denied", "fire", "door-1")]
    assert signals[0].at == T0 + 40 and signals[0].value == 5


def test_count_window_slides_so_old_events_drop_out() -> None:
    e = make(DENIED)
    signals: list[Signal] = []
    for t in [0, 30, 60, 90, 125, 155, 200, 230]:  # never five within any 120 s
        signals += e.evaluate(ev("door-1", T0 + t, "access_denied"), T0 + t)
    assert signals == []
    assert actions(e.evaluate(ev("door-1", T0 + 260, "access_denied"), T0 + 260)) == []
    assert actions(e.evaluate(ev("door-1", T0 + 270, "access_denied"), T0 + 270)) == [
        ("denied", "fire", "door-1")
    ]  # 150..270 holds 155, 200, 230, 260, 270


def test_count_rearms_after_the_window_drops_below_n_and_counts_per_device() -> None:
    e = make(DENIED)
    first = [s for i in range(5) for s in e.evaluate(ev("door-1", T0 + i, "access_denied"), T0)]
    other = [s for i in range(4) for s in e.evaluate(ev("door-2", T0 + i, "access_denied"), T0)]
    assert actions(first) == [("denied", "fire", "door-1")] and other == []
    later = T0 + 600
    second = [s for i in range(5) for s in e.evaluate(ev("door-1", later + i, "access_denied"),
                                                      later)]
    assert actions(second) == [("denied", "fire", "door-1")]


STALE = """
- id: silent
  title: Silent
  description: Life-safety device silent
  kind: stale
  select: {kinds: [smoke_detector]}
  intervals: 3
  raises: {type: ticket, priority: P1, auto_resolve: true}
"""


def test_stale_fires_after_three_intervals_of_silence_once_and_clears_on_data() -> None:
    e = make(STALE, interval=60)
    e.watch("hq", "sd-1", "smoke_detector", "hall-a", T0)
    e.watch("hq", "zs-1", "zone_sensor", "office-1", T0)  # not selected
    assert e.tick(T0 + 179) == []
    fired = e.tick(T0 + 180)
    assert actions(fired) == [("silent", "fire", "sd-1")] and fired[0].zone == "hall-a"
    assert e.tick(T0 + 500) == []
    assert e.evaluate(status("sd-1", T0 + 510, "online", kind="smoke_detector"), T0 + 510) == []
    back = e.evaluate(tel("sd-1", T0 + 520, kind="smoke_detector", zone="hall-a",
                          battery_pct=90), T0 + 520)
    assert actions(back) == [("silent", "clear", "sd-1")]
    assert e.tick(T0 + 699) == []
    assert actions(e.tick(T0 + 700)) == [("silent", "fire", "sd-1")]


def test_stale_takes_signs_of_life_from_the_last_seen_map_and_survives_a_restart() -> None:
    store = DurableStore()
    e = make(STALE, store, interval=60)
    e.watch("hq", "sd-1", "smoke_detector", "hall-a", T0)
    assert e.tick(T0 + 200, {"sd-1": T0 + 100}) == []
    assert actions(e.tick(T0 + 280)) == [("silent", "fire", "sd-1")]
    restarted = make(STALE, store, interval=60)
    restarted.watch("hq", "sd-1", "smoke_detector", "hall-a", T0 + 300)
    assert restarted.tick(T0 + 900) == []  # still firing from before the restart
    back = restarted.evaluate(tel("sd-1", T0 + 901, kind="smoke_detector", temperature_c=21),
                              T0 + 901)
    assert actions(back) == [("silent", "clear", "sd-1")]


METER = """
- id: service
  title: Service due
  description: Every 2000 h
  kind: meter
  select: {kinds: [air_handler]}
  metric: runtime_hours
  every: 2000
  raises: {type: ticket, priority: P3}
"""


def test_meter_fires_once_per_crossed_multiple_and_not_on_a_reset() -> None:
    e = make(METER)
    signals: list[Signal] = []
    for i, hours in enumerate([1998.5, 1999.5, 2000.5, 2001.0, 3999.0, 4000.2, 4000.3, 12.0,
                               1999.0, 2000.0]):
        r = tel("ahu-1", T0 + i, kind="air_handler", zone="plant", runtime_hours=hours)
        signals += e.evaluate(r, T0 + i)
    assert [(s.action, s.value) for s in signals] == [
        ("fire", 2000.5), ("fire", 4000.2), ("fire", 2000.0)
    ]


def test_meter_first_value_is_a_baseline_that_survives_a_restart() -> None:
    store = DurableStore()
    e = make(METER, store)
    r = lambda at, h: tel("ahu-1", at, kind="air_handler", runtime_hours=h)  # noqa: E731
    assert e.evaluate(r(T0, 2500.0), T0) == []
    assert make(METER, store).evaluate(r(T0 + 1, 3999.0), T0 + 1) == []
    assert len(make(METER, store).evaluate(r(T0 + 2, 4001.0), T0 + 2)) == 1


EVENTS = """
- id: forced
  title: Forced
  description: Door forced
  kind: event
  event: door_forced_open
  data: {reader: R2}
  raises: {type: alert, severity: critical, runbook: Check CCTV.}
- id: held
  title: Held
  description: Door held open
  kind: event
  select: {kinds: [door]}
  event: door_held_open
  clear_when: {metric: door_open, equals: false}
  raises: {type: alert, severity: major, latching: false}
- id: offline
  title: Offline
  description: Device offline
  kind: event
  select: {kinds: [door]}
  event: offline
  clear_when: {event: online}
  raises: {type: ticket, priority: P3, auto_resolve: true}
"""


def test_event_rules_fire_on_every_matching_event_and_match_data_fields() -> None:
    e = make(EVENTS)
    assert e.evaluate(ev("door-1", T0, "door_forced_open", reader="R1"), T0) == []
    assert e.evaluate(ev("door-1", T0, "door_forced_open"), T0) == []
    one = e.evaluate(ev("door-1", T0, "door_forced_open", reader="R2"), T0)
    two = e.evaluate(ev("door-1", T0 + 1, "door_forced_open", reader="R2", extra=1), T0 + 1)
    assert actions(one + two) == [("forced", "fire", "door-1")] * 2
    assert one[0].value == {"event": "door_forced_open", "data": {"reader": "R2"}}


def test_an_event_rule_with_clear_when_resolves_on_the_metric_and_repeats_while_firing() -> None:
    e = make(EVENTS)
    door = lambda at, is_open: tel("door-1", at, kind="door", door_open=is_open)  # noqa: E731
    assert e.evaluate(door(T0, False), T0) == []  # nothing firing: nothing to clear
    assert actions(e.evaluate(ev("door-1", T0 + 30, "door_held_open"), T0 + 30)) == [
        ("held", "fire", "door-1")
    ]
    assert len(e.evaluate(ev("door-1", T0 + 60, "door_held_open"), T0 + 60)) == 1  # a repeat
    assert e.evaluate(door(T0 + 70, True), T0 + 70) == []
    assert e.tick(T0 + 10_000) == []
    assert actions(e.evaluate(door(T0 + 90, False), T0 + 90)) == [("held", "clear", "door-1")]


def test_status_offline_is_matched_as_an_event_and_online_clears_it() -> None:
    e = make(EVENTS)
    assert actions(e.evaluate(status("door-1", T0, "offline"), T0)) == [
        ("offline", "fire", "door-1")
    ]
    assert actions(e.evaluate(status("door-1", T0 + 5, "online"), T0 + 5)) == [
        ("offline", "clear", "door-1")
    ]


SELECT = """
- id: by_site_zone
  title: A
  description: Site and zone
  kind: threshold
  select: {sites: [hq], zones: [office-1, office-2]}
  metric: temperature_c
  above: 30
  raises: {type: ticket, priority: P3}
- id: by_device
  title: B
  description: One device
  kind: threshold
  select: {devices: [zs-9]}
  metric: temperature_c
  above: 30
  raises: {type: ticket, priority: P3}
- id: by_kind
  title: C
  description: Smoke detectors only
  kind: threshold
  select: {kinds: [smoke_detector]}
  metric: temperature_c
  above: 30
  raises: {type: ticket, priority: P3}
- id: everyone
  title: D
  description: Every device
  kind: threshold
  metric: temperature_c
  above: 30
  raises: {type: ticket, priority: P3}
"""


def fired_rules(e: Evaluator, r: Reading) -> set[str]:
    """Ids of rules that fire on this reading."""
    return {s.rule_id for s in e.evaluate(r, r.ts)}


def test_selection_by_kind_site_zone_and_device() -> None:
    e = make(SELECT)
    assert fired_rules(e, tel("zs-1", T0, zone="office-1", temperature_c=35)) == {
        "by_site_zone", "everyone"
    }
    assert fired_rules(e, tel("zs-2", T0, zone="office-1", site="annex", temperature_c=35)) == {
        "everyone"
    }
    assert fired_rules(e, tel("zs-9", T0, zone="plant", temperature_c=35)) == {
        "by_device", "everyone"
    }
    assert fired_rules(e, tel("sd-1", T0, kind="smoke_detector", zone="plant",
                              temperature_c=35)) == {"by_kind", "everyone"}


def test_an_unregistered_device_meets_rules_that_do_not_select_kinds() -> None:
    e = make(SELECT + EVENTS)
    stray = tel("ghost", T0, kind=None, zone=None, temperature_c=35)
    assert fired_rules(e, stray) == {"everyone"}
    forced = ev("ghost", T0, "door_forced_open", kind=None, zone=None, reader="R2")
    assert fired_rules(e, forced) == {"forced"}
    assert fired_rules(e, ev("ghost", T0, "door_held_open", kind=None, zone=None)) == set()


def test_readings_no_rule_can_match_leave_no_state_behind() -> None:
    store = DurableStore()
    e = make(HOT + DENIED, store)
    for i in range(100):
        assert e.evaluate(tel("zs-1", T0 + i, humidity_pct=40.0, temperature_c=22.0), T0 + i) == []
        assert e.evaluate(tel("zs-1", T0 + i, temperature_c="warm"), T0 + i) == []
        assert e.evaluate(ev("door-1", T0 + i, "access_granted"), T0 + i) == []
    assert store.states == {}
