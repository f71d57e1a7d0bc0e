"""A seeded period of readings that fires every kind of rule of the built-in pack, and the
backtest loop's first version (a tick every second of data time) as the reference the backtest
tests hold replay(), replay_devices() and the columnar fast path to."""

from __future__ import annotations

import random
from collections.abc import Iterable

from devices.reading import Reading
from devices.registry import Device, Registry
from rules.engine.backtest import BacktestResult, _Incidents
from rules.engine.backtest_loop import TICK_S
from rules.engine.evaluator import Evaluator
from rules.engine.loader import RulePack
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


def opened(result: BacktestResult) -> list[tuple[str, str, float, float | None]]:
    return sorted((w.rule, w.device_id, w.opened_at, w.resolved_at) for w in result.would_open)
