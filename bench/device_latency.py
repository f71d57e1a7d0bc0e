"""GET /api/v1/devices/{id} p99 with 10,000 devices reporting into InfluxDB 1.6.7.

Run: .venv/bin/python -m bench.device_latency [--label before|after] [--devices 10000]
Starts Mosquitto and InfluxDB 1.x, a `sitewatch serve` with `--devices` registered devices
(SITEWATCH_INFLUX_API=v1), has each report `--per-device` readings, then hits one device's
page at a few concurrency levels with the load tool of bench/api_latency.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api_latency import hit, load_tool
from bench.common import Serve, Servers, influx_count, wait_until
from bench.loadgen import Load, device_id, registry_yaml, split

SITE = "hq"


def run(workdir: Path, devices: int, per_device: int, seconds: int,
        concurrency: tuple[int, ...]) -> dict[str, Any]:
    """Start everything, fill the store, measure the device page; figures per concurrency."""
    servers = Servers(workdir / "servers")
    servers.start()
    reg = workdir / "devices.yaml"
    reg.write_text(registry_yaml(devices, SITE))
    serve = Serve(servers.mqtt, servers.influx, workdir / "serve", "bench_devices", reg, "dev")
    try:
        started = time.perf_counter()
        serve.start(timeout=180)
        start_s = time.perf_counter() - started
        load = Load(servers.mqtt.port, split(SITE, devices, 2), "dev", per_device, name="dev")
        load.go()
        load.wait()
        total = devices * per_device
        if not wait_until(lambda: influx_count(servers.influx, "bench_devices") >= total,
                          180, 0.25):
            raise RuntimeError("not every reading reached InfluxDB")
        time.sleep(2)
        target = device_id(devices // 2)
        page = serve.get(f"/devices/{target}")
        out: dict[str, Any] = {"tool": load_tool(), "devices": devices, "readings": total,
                               "start_s": round(start_s, 1), "metrics_on_page": len(page["latest"])}
        for c in concurrency:
            time.sleep(1)
            out[f"c={c}"] = hit(f"{serve.base}/devices/{target}", c, seconds)
        return out
    finally:
        serve.stop()
        servers.stop()


def main() -> int:
    """Print the figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--label", default="current")
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--per-device", type=int, default=3)
    p.add_argument("--seconds", type=int, default=8)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitewatch-bench-dev-") as tmp:
        figures = run(Path(tmp), args.devices, args.per_device, args.seconds, (1, 4, 16))
    print(json.dumps({args.label: figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
