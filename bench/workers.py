"""`SITEWATCH_WORKERS=threads` against `processes`, with a bare paho subscriber, same run.

    .venv/bin/python -m bench.workers [--devices 2000] [--per-device 100] [--rss-devices 10000]
                                      [--workers threads,processes] [--rounds 1]

One set of servers (bench/common.py). First the bare subscriber (bench 2 of bench/run.py),
then for each mode, alternating when `--rounds` > 1: benchmark 1 (burst, end to end into
InfluxDB; CPU and RSS over the service's whole process tree), then the RSS of the process tree
once `--rss-devices` devices have each reported 3 readings. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import throughput
from bench.common import Serve, Servers, influx_count, machine, wait_until
from bench.loadgen import Load, registry_yaml, split

SITE = "hq"


def rss_at(servers: Servers, workdir: Path, workers: str, devices: int) -> dict[str, Any]:
    """RSS of the service's processes together once `devices` devices reported 3 readings."""
    workdir.mkdir(parents=True, exist_ok=True)
    reg = workdir / "devices.yaml"
    reg.write_text(registry_yaml(devices, SITE))
    prefix, db = f"rss{workers[0]}", f"bench_rss_{workers}"
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, prefix,
                  extra_env={"SITEWATCH_WORKERS": workers})
    serve.start(timeout=180)
    try:
        load = Load(servers.mqtt.port, split(SITE, devices, 2), prefix, 3, name=prefix)
        load.go()
        load.wait()
        if not wait_until(lambda: influx_count(servers.influx, db) >= 3 * devices, 180, 0.25):
            raise RuntimeError(f"only {influx_count(servers.influx, db)} stored")
        time.sleep(2)
        return {"devices": devices, "rss_mb": round(serve.rss_mb(), 1)}
    finally:
        serve.stop()


def run(workdir: Path, devices: int, per_device: int, rss_devices: int,
        workers: tuple[str, ...], rounds: int) -> dict[str, Any]:
    """The bare subscriber, then each mode's burst and RSS; the figures."""
    servers = Servers(workdir / "servers")
    servers.start()
    out: dict[str, Any] = {"load_before": Path("/proc/loadavg").read_text().split()[:3]}
    try:
        out["bare_paho"] = throughput.baseline(servers, devices, per_device, 2)
        print("[bench] bare:", out["bare_paho"], flush=True)
        for k in range(rounds):
            for mode in workers:
                key = f"{mode}-{k + 1}"
                burst = throughput.sitewatch(
                    servers, workdir / key, devices, per_device, 2, prefix=f"w{mode[0]}{k}",
                    paced_s=10, env={"SITEWATCH_WORKERS": mode})
                cpu_us = burst["cpu_s"] / burst["readings"] * 1e6
                out[key] = {"throughput": burst, "cpu_us_per_reading": round(cpu_us, 1),
                            "vs_bare": round(burst["end_to_end_rate"]
                                             / out["bare_paho"]["rate"], 2),
                            "load": Path("/proc/loadavg").read_text().split()[:3]}
                print(f"[bench] {key}:", json.dumps(out[key]), flush=True)
        if rss_devices:
            for mode in workers:
                out[f"rss-{mode}"] = rss_at(servers, workdir / f"rss-{mode}", mode, rss_devices)
                print(f"[bench] rss {mode}:", out[f"rss-{mode}"], flush=True)
    finally:
        servers.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run once and print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.workers",
                                description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--per-device", type=int, default=100)
    p.add_argument("--rss-devices", type=int, default=10_000)
    p.add_argument("--workers", default="threads,processes")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sitewatch-workers-") as tmp:
        figures = run(Path(tmp), args.devices, args.per_device, args.rss_devices,
                      tuple(args.workers.split(",")), args.rounds)
    print(json.dumps({"machine": machine(), "results": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
