"""A backtest gives the same incidents and diff however it reads and ticks: the plain replay
(one merged stream, a tick every second of data time: the first version's loop, kept here as
the reference), replay() with its skipped ticks, and replay_devices() one device at a time
from the store, over a seeded period that fires every kind of rule of the built-in pack."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from devices.reading import Reading
from devices.registry import Device, Registry
from ingest.stores.base import DeviceReplay, TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from rules.engine.backtest import (
    BacktestResult,
    Recorded,
    _Incidents,
    diff,
    replay,
    replay_devices,
)
from rules.engine.backtest_loop import TICK_S
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack, load_rules
from rules.engine.state import MemoryStateStore

T0 = 1_800_000_000.25  # not on a whole second: ticks fall between readings
HOURS = 1.0
KINDS = {"smoke-1": "smoke_detector", "heat-1": "heat_detector", "panel-1": "fire_panel",
         "door-1": "door", "door-2": "door", "ahu-1": "air_handler", "zs-1": "zone_sensor",
         "mcp-1": "manual_call_point"}
REGISTRY = Registry.from_devices(
    [Device(id=i, kind=k, site="hq", zone="z1") for i, k in KINDS.items()]
    + [Device(id="smoke-quiet", kind="smoke_detector", site="hq", zone="z2")])  # never reports


def _metrics(kind: str, rng: random.Random, hot: bool, t: float) -> dict[str, object]:
    if kind == "smoke_detector":
        return {"smoke_obscuration_pct_per_m": 4.0 if hot else 0.2, "battery_pct":
                15.0 if hot else 90.0, "temperature_c": 21.0 + rng.random()}
    if kind == "heat_detector":
        return {"temperature_c": 70.0 + (t % 600) if hot else 22.0 + rng.random()}
    if kind == "fire_panel":
        return {"zones_in_alarm": 1.0 if hot and rng.random() < 0.3 else 0.0, "mains_ok": not hot}
    if kind == "door":
        return {"door_open": hot}
    if kind == "air_handler":
        return {"filter_dp_pa": 300.0 if hot else 120.0, "fan_running": True}
    if kind == "zone_sensor":
        return {"temperature_c": 29.0 if hot else 22.0}
    return {"battery_pct": 10.0 if hot else 95.0}


def seeded_period(seed: int) -> list[Reading]:
    """Every device's readings of the period: spells of trouble, silences, event bursts."""
    rng = random.Random(seed)
    out: list[Reading] = []
    for device, kind in [*KINDS.items(), ("ghost", "")]:
        t, hot_until, quiet_until = T0 + rng.random() * 10, 0.0, 0.0
        while t < T0 + HOURS * 3600:
            roll = rng.random()
            if roll < 0.004:
                hot_until = t + rng.choice([20, 45, 90, 400, 1200, 1500])
            elif roll < 0.006:
                quiet_until = t + rng.choice([100, 400, 2000])
            if t >= quiet_until:
                out += _readings_at(device, kind or None, t, rng, t < hot_until)
            t += rng.choice([5.0, 5.0, 5.0, 7.5, 2.001])
    return sorted((r for r in out if r.ts < T0 + HOURS * 3600), key=lambda r: r.ts)


def _readings_at(device: str, kind: str | None, t: float, rng: random.Random,
                 hot: bool) -> list[Reading]:
    site, zone = "hq", ("z1" if kind else None)
    if kind is None:  # an unregistered device: only events, state keyed by id@site
        name = rng.choice(["alarm", "noise"]) if rng.random() < 0.02 else None
        return [Reading(site, device, "event", t, t, kind=None, zone=None, event=name)] if name \
            else []
    out = [Reading(site, device, "telemetry", t, t, kind=kind, zone=zone,
                   metrics=_metrics(kind, rng, hot, t))]
    if rng.random() < 0.05:
        name = rng.choice({"door": ["access_denied"] * 4 + ["door_held_open", "door_forced_open"],
                           "smoke_detector": ["alarm", "trouble", "tamper"],
                           "air_handler": ["fault"]}.get(kind, ["trouble"]))
        at = t if rng.random() < 0.5 else t + 0.4  # some at the telemetry's own ts
        for i in range(6 if name == "access_denied" and hot else 1):
            out.append(Reading(site, device, "event", at + i, at + i, kind=kind, zone=zone,
                               event=name, data={"badge": "B1"}))
    if rng.random() < 0.01:
        state = "offline" if rng.random() < 0.5 else "online"
        out.append(Reading(site, device, "status", t + 0.2, t + 0.2, kind=kind, zone=zone,
                           status=state))
    return out


def first_version(pack: RulePack, readings: Iterable[Reading], start: float, end: float,
                  registry: Registry) -> list[tuple[str, str, float, float | None]]:
    """The backtest loop before ticks were skipped: tick() every second of data time."""
    def interval_of(device_id: str) -> float | None:
        d = registry.devices.get(device_id)
        return (d.interval_s or d.spec.interval_s) if d is not None else None

    ev = Evaluator(pack, MemoryStateStore(), interval_of)
    ev.watch_registry(registry, start)
    incidents = _Incidents(pack)
    next_tick, count = start + TICK_S, 0
    for r in readings:
        while next_tick <= r.ts:
            incidents.apply(ev.tick(next_tick))
            next_tick += TICK_S
        incidents.apply(ev.evaluate(r, r.ts))
        count += 1
    while count and next_tick < end:
        incidents.apply(ev.tick(next_tick))
        next_tick += TICK_S
    return sorted((w.rule, w.device_id, w.opened_at, w.resolved_at) for w in incidents.all)


def _opened(result: BacktestResult) -> list[tuple[str, str, float, float | None]]:
    return sorted((w.rule, w.device_id, w.opened_at, w.resolved_at) for w in result.would_open)


@pytest.fixture(params=["embedded", pytest.param("influx_v1", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TelemetryStore]:
    """The stores that replay one device at a time: embedded and a real InfluxDB 1.6.7."""
    s: TelemetryStore
    if request.param == "embedded":
        s = EmbeddedStore(tmp_path / "telemetry.db")
    else:
        server = request.getfixturevalue("influxdb")
        s = InfluxV1Store(f"http://127.0.0.1:{server.port}", request.getfixturevalue("influx_db"))
    yield s
    s.close()


def test_by_device_and_skipped_ticks_give_the_first_versions_incidents_and_diff(
    store: TelemetryStore,
) -> None:
    pack = load_rules()
    readings = seeded_period(20)
    store.write(readings)
    start, end = T0, T0 + HOURS * 3600
    reference = first_version(pack, store.readings(start, end), start, end, REGISTRY)
    fired = {rule for rule, *_ in reference}
    assert fired >= {"smoke_obscuration", "heat_rise", "heat_fixed", "detector_low_battery",
                     "fire_panel_mains_lost", "life_safety_stale", "door_held_open",
                     "door_open_too_long", "access_denied_burst", "filter_clogged",
                     "zone_overheat", "unregistered_fire_alarm", "device_offline"}, fired
    assert any(resolved is not None for *_, resolved in reference)
    assert ("life_safety_stale", "smoke-quiet", T0 + 180, None) in reference

    merged = replay(pack, store.readings(start, end), start, end, REGISTRY)
    assert isinstance(store, DeviceReplay)
    by_device = replay_devices(pack, store.reading_devices(start, end),
                               lambda d: store.device_readings(d, start, end), start, end,
                               REGISTRY)
    assert merged.readings == by_device.readings == len(readings)
    assert _opened(merged) == _opened(by_device) == reference

    # The diff too: one recorded as opened, one a minute later, one the replay never opens.
    w0, w1 = merged.would_open[0], merged.would_open[1]
    recorded = [Recorded(1, w0.rule, w0.device_id, w0.opened_at, None),
                Recorded(2, w1.rule, w1.device_id, w1.opened_at + 60, None),
                Recorded(3, "zone_overheat", "nowhere", T0 + 5, None)]
    a = diff(merged, recorded).as_json()
    b = diff(by_device, recorded).as_json()
    assert a == b
    assert (len(a["diff"]["moved"]), len(a["diff"]["gone"])) == (1, 1)
    assert len(a["diff"]["new"]) == len(reference) - 2
