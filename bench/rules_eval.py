"""Evaluator cost per reading with the full built-in pack over the sample site.

Run: .venv/bin/python bench/rules_eval.py [N]   (N readings, default 100000)

Readings are generated first (not timed): each registered device reports telemetry at its
kind's interval with plausible values, doors add badge events, and a few devices drift past
their limits (a clogging filter, a warm zone, a low battery) so the timed loop also walks
the pending/firing paths. Then every reading goes through Evaluator.evaluate with a
MemoryStateStore, and tick() is timed separately at one call per simulated second.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections import Counter
from typing import Any

from devices.reading import Reading
from devices.registry import Device, load_registry
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.state import MemoryStateStore

T0 = 1_800_000_000.0  # Unix seconds


def metrics_for(d: Device, step: int, rng: random.Random) -> dict[str, Any]:
    """Plausible telemetry for a device at its `step`-th report."""
    drift = step / 2000.0  # slow wear, so some limits are crossed during the run
    if d.kind == "smoke_detector":
        return {"smoke_obscuration_pct_per_m": round(rng.uniform(0, 0.3), 2),
                "temperature_c": round(rng.gauss(22, 0.5), 1),
                "battery_pct": max(0.0, 95 - drift * (80 if d.id == "sd-07" else 2))}
    if d.kind == "heat_detector":
        return {"temperature_c": round(rng.gauss(24, 0.8), 1), "battery_pct": 90.0}
    if d.kind == "fire_panel":
        return {"zones_in_alarm": 0, "mains_ok": rng.random() > 0.001}
    if d.kind == "manual_call_point":
        return {"battery_pct": 88.0}
    if d.kind == "air_handler":
        return {"supply_air_temp_c": round(rng.gauss(14, 0.4), 1),
                "return_air_temp_c": round(rng.gauss(23, 0.4), 1), "setpoint_c": 21.0,
                "filter_dp_pa": round(110 + drift * (100 if d.id == "ahu-02" else 5), 1),
                "fan_running": True, "compressor_current_a": round(rng.gauss(18, 1), 1),
                "runtime_hours": round(1990 + step * 30 / 3600, 3)}
    if d.kind == "zone_sensor":
        warm = 6.0 if d.id == "zs-04" and 1000 < step < 1100 else 0.0
        return {"temperature_c": round(rng.gauss(22.5 + warm, 0.4), 1),
                "humidity_pct": round(rng.gauss(45, 2), 1),
                "co2_ppm": round(rng.gauss(700, 80))}
    return {"door_open": rng.random() < 0.05}


def readings(n: int, seed: int = 7) -> list[tuple[float, Reading]]:
    """n (now, reading) pairs in time order for every device of the sample site."""
    rng = random.Random(seed)
    devices = list(load_registry().devices.values())
    heap = [(T0 + rng.uniform(0, d.interval_s or d.spec.interval_s), i, 0)
            for i, d in enumerate(devices)]
    heapq.heapify(heap)
    out: list[tuple[float, Reading]] = []
    while len(out) < n:
        at, i, step = heapq.heappop(heap)
        d = devices[i]
        out.append((at, Reading(d.site, d.id, "telemetry", at, at, seq=step, kind=d.kind,
                                zone=d.zone, metrics=metrics_for(d, step, rng))))
        if d.kind == "door" and rng.random() < 0.8:  # badge traffic
            name = "access_denied" if rng.random() < 0.05 else "access_granted"
            out.append((at + 1, Reading(d.site, d.id, "event", at + 1, at + 1, kind=d.kind,
                                        zone=d.zone, event=name, data={"card": "4711"})))
        heapq.heappush(heap, (at + (d.interval_s or d.spec.interval_s), i, step + 1))
    return out[:n]


def main() -> None:
    """Time evaluate() over the generated readings, then tick() once per simulated second."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    registry = load_registry()
    pack = load_rules()
    feed = readings(n)

    def interval_of(device_id: str) -> float | None:
        d = registry.devices.get(device_id)
        return (d.interval_s or d.spec.interval_s) if d else None

    evaluator = Evaluator(pack, MemoryStateStore(), interval_of)
    evaluator.watch_registry(registry, T0)
    fired: Counter[str] = Counter()
    start = time.perf_counter()
    for now, reading in feed:
        for sig in evaluator.evaluate(reading, now):
            fired[f"{sig.rule_id}:{sig.action}"] += 1
    elapsed = time.perf_counter() - start
    span = feed[-1][0] - feed[0][0]
    ticks = int(min(span, 20_000))
    tick_start = time.perf_counter()
    for s in range(ticks):
        for sig in evaluator.tick(feed[0][0] + s):
            fired[f"{sig.rule_id}:{sig.action}"] += 1
    tick_elapsed = time.perf_counter() - tick_start
    print(f"rules: {len(pack)}, devices: {len(registry)}, readings: {n} "
          f"({span / 3600:.1f} h of site traffic)")
    print(f"signals: {dict(sorted(fired.items()))}")
    print(f"evaluate: {elapsed * 1e6 / n:.2f} us/reading ({n / elapsed:,.0f} readings/s)")
    print(f"tick: {tick_elapsed * 1e6 / max(ticks, 1):.2f} us/tick over {ticks} ticks")


if __name__ == "__main__":
    main()
