"""Sitewatch against a Node-RED flow and a bare paho subscriber, in the same run.

    .venv/bin/python -m bench.queued_drain [--devices 2000] [--per-device 50] [--kill 20000]

Each consumer first connects once (its persistent session subscribes), then stops; the
generators queue `devices x per_device` QoS 1 readings at the broker; the consumer starts
again and drains them. The steady drain rate is taken between 5 % and 95 % of the backlog
stored (InfluxDB's exact count; for the bare subscriber, received), so start-up is left out.
Then `--kill` more readings are queued, the consumer is killed with SIGKILL once a third of
them are stored, restarted, and what never reaches InfluxDB is counted as lost.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench import nodered
from bench.common import Serve, Servers, influx_count, machine, wait_until
from bench.loadgen import Load, registry_yaml, split

SITE = "hq"


def create_db(port: int, db: str) -> None:
    """CREATE DATABASE (idempotent in InfluxDB 1.x)."""
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/query", data=body, timeout=10).close()


def steady(samples: list[tuple[float, int]], base: int, total: int) -> float:
    """Readings/s between 5 % and 95 % of `total` past `base` in (time, count) samples."""
    def when(share: float) -> float:
        return next(t for t, n in samples if n - base >= share * total)
    return 0.9 * total / max(when(0.95) - when(0.05), 1e-9)


class Sampler:
    """(time, count()) every `every` s in a thread, from before the consumer starts."""

    def __init__(self, count: Callable[[], int], every: float = 0.1) -> None:
        self.samples: list[tuple[float, int]] = []
        self._count, self._every = count, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self._count()
            if n >= 0:  # -1: InfluxDB did not answer this time
                self.samples.append((time.monotonic(), n))
            self._stop.wait(self._every)

    def until(self, target: int, stall_s: float = 60) -> list[tuple[float, int]]:
        """Wait until the count reaches `target` (a count still for `stall_s` is an error)."""
        moved, last = time.monotonic(), -1
        while not self.samples or self.samples[-1][1] < target:
            if self.samples and self.samples[-1][1] != last:
                moved, last = time.monotonic(), self.samples[-1][1]
            if time.monotonic() - moved > stall_s:
                raise TimeoutError(f"stuck at {last} of {target} for {stall_s} s")
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        return self.samples


def _bare(port: int, client_id: str, expect: int, out: mp.Queue[list[float]]) -> None:
    """Persistent-session subscriber: subscribes (expect=0) or records arrival times."""
    times: list[float] = []
    done = mp.Event()

    def on_connect(client: mqtt.Client, *args: Any) -> None:
        client.subscribe("bare/#", qos=1)

    def on_subscribe(client: mqtt.Client, *args: Any) -> None:
        if expect == 0:
            done.set()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        times.append(time.monotonic())
        if len(times) >= expect:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=False)
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(600)
    client.disconnect()
    client.loop_stop()
    out.put(times)


def bare(servers: Servers, devices: int, per: int) -> dict[str, Any]:
    """The bare paho subscriber's steady drain of the queued backlog."""
    ctx = mp.get_context("fork")
    out: mp.Queue[list[float]] = ctx.Queue()
    ctx.Process(target=_bare, args=(servers.mqtt.port, "bare-drain", 0, out)).start()
    out.get(timeout=60)
    total = devices * per
    queue(servers, "bare", devices, per)
    ctx.Process(target=_bare, args=(servers.mqtt.port, "bare-drain", total, out)).start()
    times = out.get(timeout=600)
    samples = [(t, i + 1) for i, t in enumerate(times)]
    return {"readings": total, "received": len(times), "steady_rate": round(steady(
        samples, 0, total))}


def queue(servers: Servers, prefix: str, devices: int, per: int, seq0: int = 1) -> None:
    """Queue devices x per readings at the broker (every one acked by it)."""
    load = Load(servers.mqtt.port, split(SITE, devices, 2), prefix, per, seq0=seq0,
                name=f"{prefix}-q{seq0}")
    load.go()
    load.wait()


class Consumer:
    """Start/stop/kill one consumer and count what it stored."""

    def __init__(self, start: Callable[[], None], stop: Callable[[], None],
                 kill: Callable[[], None], count: Callable[[], int]) -> None:
        self.start, self.stop, self.kill, self.count = start, stop, kill, count


def drain_and_kill(servers: Servers, c: Consumer, prefix: str, devices: int, per: int,
                   kill: int, warm: int) -> dict[str, Any]:
    """The steady drain of a queued backlog, then readings lost to a kill -9 mid-drain."""
    total = devices * per
    queue(servers, prefix, devices, per)
    sampler = Sampler(c.count)
    c.start()
    samples = sampler.until(warm + total)
    result: dict[str, Any] = {"readings": total, "steady_rate": round(steady(samples, warm,
                                                                             total))}
    c.stop()
    base = c.count()
    per_kill = max(1, kill // devices)
    queue(servers, prefix, devices, per_kill, seq0=1 + per)
    c.start()
    wait_until(lambda: c.count() - base >= per_kill * devices / 3, 300, 0.05)
    c.kill()
    c.start()
    last, still_since = -1, time.monotonic()
    while time.monotonic() - still_since < 10 and last < base + per_kill * devices:
        time.sleep(0.5)
        n = c.count()
        if n != last:
            last, still_since = n, time.monotonic()
    c.stop()
    return result | {"kill_readings": per_kill * devices,
                     "lost_to_kill": per_kill * devices - (last - base)}


def run(workdir: Path, devices: int, per: int, kill: int,
        workers: tuple[str, ...] = ("threads",)) -> dict[str, Any]:
    """Bare paho, Node-RED and Sitewatch against the same servers; the figures."""
    servers = Servers(workdir / "servers")
    servers.start()
    try:
        red_js = nodered.install(workdir / "npm")
        out: dict[str, Any] = {"bare_paho": bare(servers, devices, per)}
        print("[bench] bare:", out["bare_paho"], flush=True)

        create_db(servers.influx.port, "nr")
        red = nodered.NodeRed(red_js, workdir / "node-red", nodered.flow(
            servers.mqtt.port, "nr/#", "nr-bench", servers.influx.port, "nr"))

        def red_start() -> None:
            red.start()
            wait_until(red.connected, 30, 0.1)

        red_start()
        red.stop()  # the persistent session now queues for it
        out["node_red"] = drain_and_kill(servers, Consumer(
            red_start, red.stop, red.kill, lambda: influx_count(servers.influx, "nr")),
            "nr", devices, per, kill, 0)
        print("[bench] node-red:", out["node_red"], flush=True)

        reg = workdir / "devices.yaml"
        reg.write_text(registry_yaml(devices, SITE))
        for mode in workers:
            key = "sitewatch" if mode == workers[0] else f"sitewatch_{mode}"
            out[key] = sitewatch(servers, workdir / mode, reg, mode, devices, per, kill)
            print(f"[bench] sitewatch ({mode}):", out[key], flush=True)
    finally:
        servers.stop()
    sw, nr, bp = (out[k]["steady_rate"] for k in ("sitewatch", "node_red", "bare_paho"))
    return out | {"sitewatch_vs_node_red": round(sw / nr, 2),
                  "sitewatch_vs_bare_paho": round(sw / bp, 2),
                  "node_red_vs_bare_paho": round(nr / bp, 2)} | {
        f"sitewatch_{m}_vs_node_red": round(out[f"sitewatch_{m}"]["steady_rate"] / nr, 2)
        for m in workers[1:]}


def sitewatch(servers: Servers, workdir: Path, reg: Path, workers: str, devices: int, per: int,
              kill: int) -> dict[str, Any]:
    """`sitewatch serve` with SITEWATCH_WORKERS=`workers` through `drain_and_kill`, with the
    CPU seconds its processes used per reading over the whole drain (kill and restart too)."""
    prefix, db = f"sw{workers[0]}", f"bench_sw_{workers}"
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, prefix,
                  extra_env={"SITEWATCH_WORKERS": workers})
    serve.start()
    warm = Load(servers.mqtt.port, split(SITE, devices, 1), prefix, 1, name=f"{prefix}-warm")
    warm.go()
    warm.wait()
    wait_until(lambda: influx_count(servers.influx, db) >= devices, 120, 0.2)
    serve.stop()
    cpu = {"s": 0.0}

    def start() -> None:
        serve.start()

    def stop() -> None:
        cpu["s"] += serve.cpu_s()
        serve.stop()

    def kill_9() -> None:
        assert serve.proc is not None
        cpu["s"] += serve.cpu_s()
        serve.proc.kill()
        serve.proc.wait()

    out = drain_and_kill(servers, Consumer(start, stop, kill_9,
                                           lambda: influx_count(servers.influx, db)),
                         prefix, devices, per, kill, devices)
    readings = out["readings"] + out["kill_readings"]
    return out | {"workers": workers, "cpu_us_per_reading": round(cpu["s"] / readings * 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run once and print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.queued_drain",
                                description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--per-device", type=int, default=50)
    p.add_argument("--kill", type=int, default=20000, help="readings queued for the kill -9")
    p.add_argument("--workers", default="threads",
                   help="SITEWATCH_WORKERS values to run Sitewatch with, comma separated")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sitewatch-drain-") as tmp:
        figures = run(Path(tmp), args.devices, args.per_device, args.kill,
                      tuple(args.workers.split(",")))
    print(json.dumps({"machine": machine(), "results": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
