"""Soak: one million readings at 2,000/s through an InfluxDB outage, alarms every 30 s.

Real Mosquitto -> `sitewatch serve` (a subprocess, as a user runs it) -> real InfluxDB 1.x.
Two paced QoS 1 generator processes publish `--readings` readings at `--rate` readings/s;
`--outage-at` seconds after the load starts InfluxDB is stopped for `--outage` seconds.
Every `--alarm-every` seconds, throughout the load, a fire panel sends `fire_alarm` or a door
`door_forced_open` (each its own device, so each opens its own critical alert); a client on
GET /api/v1/stream notes when each `opened` arrives. Reported: readings published, acked
by the broker, accepted and stored by the service, and counted in InfluxDB (must all be
equal: none lost, none doubled), each alarm's latency (publish -> `opened` on the stream),
the service's peak RSS and the durable log's disk high-water mark.

    .venv/bin/python -m bench.soak [--readings 1000000] [--rate 2000] [--outage 300]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.alert_latency import StreamWatch
from bench.common import PeakRss, Serve, Servers, influx_count, machine, percentile, wait_until
from bench.loadgen import Load, registry_yaml, split

SITE = "hq"
PREFIX = "soak"
ON_TIME_S = 1.0  # an alarm's alert is on time when it is on the stream within this


class Sampler:
    """Polls the service's readiness every second: the durable log's size, store buffering."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.log_peak_mb = 0.0
        self.log_files_peak_mb = 0.0
        self.buffering_seen = False
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _files_mb(self) -> float:
        var = self.serve.workdir / "var"
        return sum(p.stat().st_size for p in var.rglob("*") if p.is_file()) / 1e6

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.serve.base}/health", timeout=5) as r:
                    status, body = r.status, json.load(r)
            except urllib.error.HTTPError as e:
                status, body = e.code, json.load(e)
            except OSError:
                status, body = 0, {}
            self.statuses[status] = self.statuses.get(status, 0) + 1
            checks = body.get("checks", {})
            disk = checks.get("buffer", {}).get("disk", {})
            self.log_peak_mb = max(self.log_peak_mb, float(disk.get("used_mb", 0.0)))
            self.buffering_seen |= bool(checks.get("store", {}).get("buffering"))
            with contextlib.suppress(OSError):  # a file went away between listing and stat
                self.log_files_peak_mb = max(self.log_files_peak_mb, self._files_mb())
            self._stop.wait(1.0)


class Alarms:
    """Sends one alarm every `every` seconds from a thread until stopped; `sent[device]`."""

    def __init__(self, port: int, every: float) -> None:
        self.every = every
        self.sent: dict[str, float] = {}
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{PREFIX}-alarms")
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start sending (the first alarm after half a period)."""
        self._thread.start()

    def stop(self) -> None:
        """Send no more."""
        self._stop.set()
        self._thread.join(5)
        self._client.loop_stop()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.every / 2 if n == 0 else self.every):
            device, event = (f"fp-{n:03d}", "fire_alarm") if n % 2 == 0 else (
                f"door-{n:03d}", "door_forced_open")
            body = {"ts": time.time(), "seq": 1, "event": event, "data": {"zone": "z00"}}
            self.sent[device] = time.time()
            self._client.publish(f"{PREFIX}/{SITE}/{device}/event", json.dumps(body), qos=1)
            n += 1


def run(servers: Servers, workdir: Path, readings: int, rate: float, outage_at: float,
        outage_s: float, alarm_every: float, devices: int = 2000,
        procs: int = 2) -> dict[str, Any]:
    """The soak's figures (see the module doc)."""
    workdir.mkdir(parents=True, exist_ok=True)
    per_device = readings // devices
    # The alarm devices report nothing else: a long interval, or the rules would (rightly)
    # raise a staleness incident for each of them a few minutes in.
    extras = [f"  - {{id: fp-{n:03d}, kind: fire_panel, site: {SITE}, zone: z00, "
              f"interval_s: 86400}}" for n in range(0, 200, 2)]
    extras += [f"  - {{id: door-{n:03d}, kind: door, site: {SITE}, zone: z00, "
               f"interval_s: 86400}}" for n in range(1, 200, 2)]
    reg = workdir / "devices.yaml"
    reg.write_text(registry_yaml(devices, SITE) + "\n".join(extras) + "\n")
    db = f"bench_{PREFIX}"
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, PREFIX)
    serve.start()
    assert serve.ps is not None
    watch = StreamWatch(serve.base, frozenset({"fire_alarm", "door_forced"}))
    alarms = Alarms(servers.mqtt.port, alarm_every)
    timeline: dict[str, float] = {}
    try:
        if not watch.connected.wait(10):
            raise RuntimeError("the SSE stream did not connect")
        load = Load(servers.mqtt.port, split(SITE, devices, procs), PREFIX, per_device,
                    rate=rate, name=f"{PREFIX}-load")
        with PeakRss(serve.ps, every=0.5) as rss, Sampler(serve) as sampler:
            start = time.time()
            load.go()
            alarms.start()
            time.sleep(max(0.0, start + outage_at - time.time()))
            timeline["influx_stopped_s"] = round(time.time() - start, 1)
            servers.influx.stop()
            try:
                time.sleep(max(0.0, start + outage_at + outage_s - time.time()))
            finally:
                servers.influx.start()
            timeline["influx_started_s"] = round(time.time() - start, 1)
            done = load.wait()
            timeline["load_acked_s"] = round(done.acked_at - start, 1)
            alarms.stop()
            wait_until(lambda: len(watch.opened) >= len(alarms.sent), 30)
            stored = wait_until(lambda: influx_count(servers.influx, db) >= done.sent, 900, 1.0)
            timeline["all_stored_s"] = round(time.time() - start, 1)
            time.sleep(5)  # anything written twice by a late retry shows in the counters now
        in_influx = influx_count(servers.influx, db)
        counters = serve.counters()
        lat = [(watch.opened[d] - t) * 1000 for d, t in alarms.sent.items() if d in watch.opened]
    finally:
        watch.stop()
        serve.stop()
    return {
        "readings_published": readings - readings % devices,
        "readings_acked_by_broker": done.sent,
        "publish_rate_per_s": round(done.rate),
        "accepted_by_service": counters["accepted"],  # readings and the alarm events
        "stored_by_service": counters["stored"],  # readings and the alarm events
        "readings_stored_by_service": counters["stored"] - len(alarms.sent),
        "counted_in_influxdb": in_influx,
        "all_stored": stored,
        "seq_lost": counters["seq_lost_total"],
        "seq_duplicates": counters["seq_duplicates"],
        "write_retries": counters["write_retries"],
        "alarms_sent": len(alarms.sent),
        "alerts_on_stream": len(lat),
        "alarm_p50_ms": round(percentile(lat, 50), 1) if lat else None,
        "alarm_p99_ms": round(percentile(lat, 99), 1) if lat else None,
        "alarm_max_ms": round(max(lat), 1) if lat else None,
        "alarms_on_time": sum(v <= ON_TIME_S * 1000 for v in lat),
        "alarm_latencies_ms": {d: round((watch.opened[d] - t) * 1000, 1)
                               for d, t in alarms.sent.items() if d in watch.opened},
        "peak_rss_mb": round(rss.peak_mb, 1),
        "log_peak_used_mb": sampler.log_peak_mb,
        "log_files_peak_mb": round(sampler.log_files_peak_mb, 1),
        "store_buffering_seen": sampler.buffering_seen,
        "health_statuses": sampler.statuses,
        "timeline_s": timeline,
    }


def main() -> None:
    """Run once against servers of its own and print the figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readings", type=int, default=1_000_000)
    p.add_argument("--rate", type=float, default=2000, help="readings/s")
    p.add_argument("--outage-at", type=float, default=90, help="s after the load starts")
    p.add_argument("--outage", type=float, default=300, help="s InfluxDB stays stopped")
    p.add_argument("--alarm-every", type=float, default=30, help="s between alarms")
    args = p.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sitewatch-soak-"))
    servers = Servers(workdir / "servers")
    servers.start()
    started = time.time()
    try:
        out = run(servers, workdir / "run", args.readings, args.rate, args.outage_at,
                  args.outage, args.alarm_every)
    finally:
        servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out["wall_s"] = round(time.time() - started, 1)
    out["machine"] = machine()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
