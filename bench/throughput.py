"""Benchmarks 1 and 2: end-to-end ingest rate of `sitewatch serve`, and a bare paho subscriber.

Both consumers get the same load: `procs` generator processes publish `per_device` QoS 1
readings from each of `devices` devices as fast as the broker takes them. Sitewatch's rate is
counted from the first publish to the moment InfluxDB holds every reading (exact count); the
baseline's from the first publish to the moment the subscriber has received them all.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import PeakRss, Serve, Servers, influx_count, wait_until
from bench.loadgen import Fleet, Load, registry_yaml, split

SITE = "hq"


def _bare_subscriber(port: int, topic: str, expect: int, ready: mp.synchronize.Event,
                     out: mp.Queue[tuple[int, float, float]]) -> None:
    """Count messages at QoS 1 with a persistent session; report (count, first, last) times."""
    state = {"n": 0, "first": 0.0, "last": 0.0}
    done = mp.Event()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        if state["n"] >= expect:
            done.set()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(topic, qos=1)

    def on_subscribe(client: mqtt.Client, *args: Any) -> None:
        ready.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bare-{time.time_ns()}",
                         clean_session=False)
    client.on_message, client.on_connect, client.on_subscribe = on_message, on_connect, on_subscribe
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(600)
    client.disconnect()
    client.loop_stop()
    out.put((int(state["n"]), float(state["first"]), float(state["last"])))


def baseline(servers: Servers, devices: int, per_device: int, procs: int) -> dict[str, Any]:
    """Benchmark 2: the rate a counting-only paho subscriber receives the same load at."""
    ctx = mp.get_context("fork")
    ready, out = ctx.Event(), ctx.Queue()
    expect = devices * per_device
    sub = ctx.Process(target=_bare_subscriber, daemon=True,
                      args=(servers.mqtt.port, "bare/#", expect, ready, out))
    sub.start()
    ready.wait(30)
    load = Load(servers.mqtt.port, split(SITE, devices, procs), "bare", per_device, name="bare")
    load.go()
    run = load.wait()
    n, _first, last = out.get(timeout=600)
    sub.join(10)
    return {
        "readings": expect,
        "received": n,
        "generator_rate": round(run.rate),
        "rate": round(n / (last - run.first_at)),
        "seconds": round(last - run.first_at, 2),
    }


def sitewatch(servers: Servers, workdir: Path, devices: int, per_device: int, procs: int,
              prefix: str = "tp", paced_share: float = 0.9, paced_s: float = 20,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Benchmark 1: the rate at which every reading is in InfluxDB, with CPU and peak RSS.

    First a burst (publish everything as fast as the broker takes it) gives the drain rate;
    then a paced run at `paced_share` of it for `paced_s` seconds checks that the rate holds
    with no backlog building up: every reading stored within a few seconds of the last ack.
    """
    db = f"bench_{prefix}"
    reg = workdir / "devices.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    reg.write_text(registry_yaml(devices, SITE))
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, prefix, extra_env=env)
    serve.start()
    try:
        # Warm-up, not timed: one reading per device creates each device's rule state rows.
        warm = Load(servers.mqtt.port, [Fleet(SITE, tuple(range(devices)))], prefix, 1,
                    name=f"{prefix}-warm")
        warm.go()
        warm.wait()
        if not wait_until(lambda: influx_count(servers.influx, db) == devices, 60, 0.2):
            raise RuntimeError(f"warm-up: {influx_count(servers.influx, db)} of {devices}")
        total = devices * per_device
        load = Load(servers.mqtt.port, split(SITE, devices, procs), prefix, per_device, seq0=1,
                    name=prefix)
        burst = _measure(serve, servers, db, load, devices, total)
        rate = paced_share * burst["end_to_end_rate"]
        paced_per = max(1, round(rate * paced_s / devices))
        paced = Load(servers.mqtt.port, split(SITE, devices, procs), prefix, paced_per,
                     seq0=1 + per_device, rate=rate, name=f"{prefix}-paced")
        held = _measure(serve, servers, db, paced, devices + total, devices * paced_per)
        return burst | {"devices": devices, "generator_processes": procs, "paced": {
            "target_rate": round(rate), "readings": held["readings"], "lost": held["lost"],
            "generator_rate": held["generator_rate"],
            "end_to_end_rate": held["end_to_end_rate"],
            "stored_after_last_ack_s": held["stored_after_last_ack_s"],
            "cpu_cores_used": held["cpu_cores_used"], "peak_rss_mb": held["peak_rss_mb"]}}
    finally:
        serve.stop()


def _measure(serve: Serve, servers: Servers, db: str, load: Load, warm: int,
             total: int) -> dict[str, Any]:
    base = serve.counters()
    cpu0, main0 = serve.cpu_s(), serve.cpu_s(main_only=True)
    accepted_at = stored_at = rules_at = 0.0
    with PeakRss(serve.ps) as rss:
        load.go()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (accepted_at and stored_at and rules_at):
            time.sleep(0.25)
            now = time.time()
            c = serve.counters()
            if not accepted_at and c["accepted"] - base["accepted"] >= total:
                accepted_at = now
            if not rules_at and c["handled"].get("rules", 0) - base["handled"].get(
                    "rules", 0) >= total:
                rules_at = now
            if accepted_at and not stored_at and influx_count(servers.influx, db) >= warm + total:
                stored_at = time.time()
        cpu, main = serve.cpu_s() - cpu0, serve.cpu_s(main_only=True) - main0
        run = load.wait()
    final = serve.counters()
    stored = influx_count(servers.influx, db) - warm
    elapsed = stored_at - run.first_at
    return {
        "readings": total,
        "stored": stored,
        "lost": total - stored,
        "rejected": final["rejected_total"] - base["rejected_total"],
        "queue_refused": final["queue_refused"] - base["queue_refused"],
        "generator_rate": round(run.rate),
        "ingest_acked_rate": round(total / (accepted_at - run.first_at)),
        "rules_rate": round(total / (rules_at - run.first_at)),
        "end_to_end_rate": round(total / elapsed),
        "seconds": round(elapsed, 2),
        "stored_after_last_ack_s": round(stored_at - run.acked_at, 2),
        "cpu_s": round(cpu, 1),
        "cpu_s_main_process": round(main, 1),  # the rest: child processes (SITEWATCH_WORKERS)
        "cpu_cores_used": round(cpu / elapsed, 2),
        "peak_rss_mb": round(rss.peak_mb, 1),
    }
