"""Backtest replay speed: a day of the demo site (42 devices every 5 s) from each store.

Run: .venv/bin/python -m bench.backtest_replay [--hours 24] [--every 5] [--skip-influx]
Writes the period into the embedded store and into a real InfluxDB 1.6.7 (started here),
then reads it back alone as the backtest does (`read_only_per_s`: store -> Readings, one
device at a time where the store can; `merged_read_per_s`: the whole period in time order) and
replays it through the built-in pack with `run_backtest` (the code behind `sitewatch rules
backtest`: read + evaluate + diff, `readings_per_s`; `readings_per_cpu_s` counts this
process's CPU time only), per store, with the 1-minute load average before and after the
replay. Each device reports every `--every` seconds with values of its kind; doors add an
access event every 10 minutes. Runs against an older checkout too (a same-run baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from api.backtest_run import run_backtest
from bench.common import Servers
from devices.reading import MetricValue, Reading
from devices.registry import Device, load_registry
from ingest.stores.base import TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.influx_v1 import InfluxV1Store
from rules.db.database import open_database
from rules.engine.loader import load_rules

T0 = 1_796_000_000.0  # 2026-11-29T..Z, a fixed day
BATCH = 5_000  # readings per store write


def _metrics(d: Device, n: int) -> dict[str, MetricValue]:
    wobble = (n % 5) / 10
    table: dict[str, dict[str, MetricValue]] = {
        "smoke_detector": {"smoke_obscuration_pct_per_m": 0.1, "temperature_c": 22 + wobble,
                           "battery_pct": 90.0},
        "heat_detector": {"temperature_c": 22 + wobble, "battery_pct": 90.0},
        "fire_panel": {"zones_in_alarm": 0.0, "mains_ok": True},
        "manual_call_point": {"battery_pct": 95.0},
        "air_handler": {"supply_air_temp_c": 16 + wobble, "return_air_temp_c": 23.0,
                        "setpoint_c": 16.0, "filter_dp_pa": 120.0, "fan_running": True,
                        "compressor_current_a": 11.0, "runtime_hours": 1000 + n / 720},
        "zone_sensor": {"temperature_c": 22 + wobble, "humidity_pct": 45.0, "co2_ppm": 600.0},
        "door": {"door_open": False},
    }
    return table[d.kind]


def day(devices: list[Device], hours: float, every_s: float) -> Iterator[Reading]:
    """The period's readings in time order."""
    steps = int(hours * 3600 / every_s)
    for n in range(steps):
        for i, d in enumerate(devices):
            ts = T0 + n * every_s + i * every_s / len(devices)
            yield Reading(d.site, d.id, "telemetry", ts, ts, kind=d.kind, zone=d.zone,
                          metrics=_metrics(d, n))
            if d.kind == "door" and n % int(600 / every_s) == 0:
                yield Reading(d.site, d.id, "event", ts + 0.001, ts + 0.001, kind=d.kind,
                              zone=d.zone, event="access_granted", data={"badge": f"B{n}"})


def fill(store: TelemetryStore, readings: Iterator[Reading]) -> tuple[int, float]:
    """Write everything in batches; (readings, seconds)."""
    began = time.perf_counter()
    batch: list[Reading] = []
    total = 0
    for r in readings:
        batch.append(r)
        if len(batch) >= BATCH:
            store.write(batch)
            total += len(batch)
            batch = []
    store.write(batch)
    return total + len(batch), time.perf_counter() - began


def measure(name: str, store: TelemetryStore, workdir: Path, hours: float, every_s: float
            ) -> dict[str, Any]:
    """Fill the store, then replay the period through the built-in pack."""
    registry = load_registry()
    devices = sorted(registry.devices.values(), key=lambda d: d.id)
    written, fill_s = fill(store, day(devices, hours, every_s))
    start, end = T0, T0 + hours * 3600
    began = time.perf_counter()
    merged = sum(1 for _ in store.readings(start, end))
    merged_s = time.perf_counter() - began
    read, read_s = merged, merged_s
    if hasattr(store, "device_readings"):  # one device at a time, as run_backtest reads it
        began = time.perf_counter()
        read = sum(1 for d in store.reading_devices(start, end)
                   for _ in store.device_readings(d, start, end))
        read_s = time.perf_counter() - began
    engine = open_database(f"sqlite:///{workdir / f'{name}.db'}")
    load = os.getloadavg()[0]
    cpu = time.process_time()
    result = run_backtest(load_rules(), store, engine, registry, T0, T0 + hours * 3600)
    cpu = time.process_time() - cpu
    engine.dispose()
    return {"written": written, "fill_s": round(fill_s, 1),
            "read_only_per_s": round(read / read_s), "read_only_s": round(read_s, 2),
            "merged_read_per_s": round(merged / merged_s),
            "replayed": result.readings,
            "replay_s": round(result.seconds, 2),
            "readings_per_s": round(result.readings / result.seconds),
            # This process's CPU time alone: on a shared machine the wall clock also counts
            # the time other processes had the cores (InfluxDB's own work is not in it).
            "replay_cpu_s": round(cpu, 2), "readings_per_cpu_s": round(result.readings / cpu),
            "load_avg_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
            "would_open": len(result.would_open)}


def main() -> int:
    """Print the figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=24)
    p.add_argument("--every", type=float, default=5)
    p.add_argument("--skip-influx", action="store_true")
    args = p.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sitewatch-bench-bt-") as tmp:
        work = Path(tmp)
        embedded = EmbeddedStore(work / "telemetry.sqlite3")
        out["embedded"] = measure("embedded", embedded, work, args.hours, args.every)
        embedded.close()
        print(json.dumps(out), flush=True)
        if not args.skip_influx:
            servers = Servers(work / "servers")
            servers.influx.start()
            try:
                influx = InfluxV1Store(f"http://127.0.0.1:{servers.influx.port}", "bench_bt")
                out["influx_v1"] = measure("influx", influx, work, args.hours, args.every)
                influx.close()
            finally:
                servers.influx.stop()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
