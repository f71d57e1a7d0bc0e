"""Sitewatch against a Node-RED flow and a bare paho subscriber, in the same run.

    .venv/bin/python -m bench.queued_drain [--devices 2000] [--per-device 50] [--kill 20000]
                                           [--workers threads] [--rounds 1]

Each consumer first connects once (its persistent session subscribes), then stops; the
generators queue `devices x per_device` QoS 1 readings at the broker; the consumer starts
again and drains them. The steady drain rate is taken between 5 % and 95 % of the backlog
stored (InfluxDB's exact count; for the bare subscriber, received), so start-up is left out.
Then `--kill` more readings are queued, the consumer is killed with SIGKILL once a third of
them are stored, restarted, and what never reaches InfluxDB is counted as lost.

With `--rounds` > 1 Node-RED and Sitewatch take turns going first (each round on databases
and sessions of its own), so neither always drains into an InfluxDB already holding the
other's points; the ratios are per round, and their median. The CPU the consumer and InfluxDB
used per reading within the steady window is reported beside each rate.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil

from bench import nodered
from bench.common import Serve, Servers, influx_count, machine, tree_cpu_s, wait_until
from bench.loadgen import Load, registry_yaml, split

SITE = "hq"


def create_db(port: int, db: str) -> None:
    """CREATE DATABASE (idempotent in InfluxDB 1.x)."""
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
    urllib.request.urlopen(f"http://127.0.0.1:{port}/query", data=body, timeout=10).close()


# time, count, and CPU seconds so far of: the consumer, InfluxDB, Mosquitto, the whole machine,
# the consumer's main process alone (its children not counted)
Sample = tuple[float, int, float, float, float, float, float]


def machine_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy (not idle, not waiting on I/O)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def steady(samples: list[Sample], base: int, total: int) -> dict[str, float]:
    """Readings/s between 5 % and 95 % of `total` past `base`, with the CPU microseconds per
    reading of the consumer (and of its main process alone), InfluxDB and Mosquitto over the
    same window, and how many of the machine's cores were busy meanwhile (2.0: both, all the
    time)."""
    first = next(s for s in samples if s[1] - base >= 0.05 * total)
    last = next(s for s in samples if s[1] - base >= 0.95 * total)
    n = max(last[1] - first[1], 1)
    seconds = max(last[0] - first[0], 1e-9)
    return {"steady_rate": round(n / seconds),
            "cpu_us_per_reading": round((last[2] - first[2]) / n * 1e6, 1),
            "main_process_cpu_us_per_reading": round((last[6] - first[6]) / n * 1e6, 1),
            "influxd_cpu_us_per_reading": round((last[3] - first[3]) / n * 1e6, 1),
            "mosquitto_cpu_us_per_reading": round((last[4] - first[4]) / n * 1e6, 1),
            "cores_busy": round((last[5] - first[5]) / seconds, 2)}


class Sampler:
    """(time, count(), cpu(), influx_cpu()) every `every` s in a thread, from before the
    consumer starts (cpu: 0 until it has a process)."""

    def __init__(self, count: Callable[[], int], cpu: Callable[[], float] = lambda: 0.0,
                 influx_cpu: Callable[[], float] = lambda: 0.0,
                 broker_cpu: Callable[[], float] = lambda: 0.0,
                 main_cpu: Callable[[], float] = lambda: 0.0, every: float = 0.1) -> None:
        self.samples: list[Sample] = []
        self._count, self._cpu, self._influx_cpu, self._every = count, cpu, influx_cpu, every
        self._broker_cpu, self._main_cpu = broker_cpu, main_cpu
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            n = self._count()
            if n >= 0:  # -1: InfluxDB did not answer this time
                self.samples.append((time.monotonic(), n, self._cpu(), self._influx_cpu(),
                                     self._broker_cpu(), machine_cpu_s(), self._main_cpu()))
            self._stop.wait(self._every)

    def until(self, target: int, stall_s: float = 60) -> list[Sample]:
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
    samples = [(t, i + 1, 0.0, 0.0, 0.0, 0.0, 0.0) for i, t in enumerate(times)]
    return {"readings": total, "received": len(times),
            "steady_rate": steady(samples, 0, total)["steady_rate"]}


def queue(servers: Servers, prefix: str, devices: int, per: int, seq0: int = 1) -> None:
    """Queue devices x per readings at the broker (every one acked by it)."""
    load = Load(servers.mqtt.port, split(SITE, devices, 2), prefix, per, seq0=seq0,
                name=f"{prefix}-q{seq0}")
    load.go()
    load.wait()


class Consumer:
    """Start/stop/kill one consumer and count what it stored."""

    def __init__(self, start: Callable[[], None], stop: Callable[[], None],
                 kill: Callable[[], None], count: Callable[[], int],
                 cpu: Callable[[], float], main_cpu: Callable[[], float] | None = None) -> None:
        self.start, self.stop, self.kill, self.count, self.cpu = start, stop, kill, count, cpu
        self.main_cpu = main_cpu or cpu  # the main process alone (all of it: no children)


def drain_and_kill(servers: Servers, c: Consumer, prefix: str, devices: int, per: int,
                   kill: int, warm: int) -> dict[str, Any]:
    """The steady drain of a queued backlog, then readings lost to a kill -9 mid-drain."""
    total = devices * per
    queue(servers, prefix, devices, per)
    assert servers.influx.proc is not None and servers.mqtt.proc is not None
    influxd = psutil.Process(servers.influx.proc.pid)
    broker = psutil.Process(servers.mqtt.proc.pid)
    sampler = Sampler(c.count, c.cpu, lambda: tree_cpu_s(influxd), lambda: tree_cpu_s(broker),
                      c.main_cpu)
    c.start()
    samples = sampler.until(warm + total)
    result: dict[str, Any] = {"readings": total} | steady(samples, warm, total)
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


def node_red(servers: Servers, red_js: Path, workdir: Path, k: int, devices: int, per: int,
             kill: int) -> dict[str, Any]:
    """The Node-RED flow through `drain_and_kill`, on round `k`'s database and session."""
    prefix = f"nr{k}"
    create_db(servers.influx.port, prefix)
    red = nodered.NodeRed(red_js, workdir / f"node-red-{k}", nodered.flow(
        servers.mqtt.port, f"{prefix}/#", f"nr-bench-{k}", servers.influx.port, prefix))

    def red_start() -> None:
        red.start()
        wait_until(red.connected, 30, 0.1)

    def red_cpu() -> float:
        if red.proc is None or red.proc.poll() is not None:
            return 0.0  # not started yet, or the stopped one of the set-up
        try:
            return tree_cpu_s(psutil.Process(red.proc.pid))
        except psutil.Error:
            return 0.0

    red_start()
    red.stop()  # the persistent session now queues for it
    return drain_and_kill(servers, Consumer(
        red_start, red.stop, red.kill, lambda: influx_count(servers.influx, prefix), red_cpu),
        prefix, devices, per, kill, 0)


def run(workdir: Path, devices: int, per: int, kill: int,
        workers: tuple[str, ...] = ("threads",), rounds: int = 1) -> dict[str, Any]:
    """Bare paho, then per round Node-RED and Sitewatch (first in turn) on the same servers."""
    servers = Servers(workdir / "servers")
    servers.start()
    try:
        red_js = nodered.install(workdir / "npm")
        out: dict[str, Any] = {"bare_paho": bare(servers, devices, per)}
        print("[bench] bare:", out["bare_paho"], flush=True)
        reg = workdir / "devices.yaml"
        reg.write_text(registry_yaml(devices, SITE))
        for k in range(1, rounds + 1):
            turn: dict[str, Any] = {"order": ["node_red", *workers]}
            if k % 2 == 0:
                turn["order"].reverse()
            for who in turn["order"]:
                if who == "node_red":
                    turn[who] = node_red(servers, red_js, workdir, k, devices, per, kill)
                else:
                    turn[who] = sitewatch(servers, workdir / f"{who}-{k}", reg, who, k,
                                          devices, per, kill)
                print(f"[bench] round {k}, {who}:", turn[who], flush=True)
            nr = turn["node_red"]["steady_rate"]
            turn |= {f"{m}_vs_node_red": round(turn[m]["steady_rate"] / nr, 2) for m in workers}
            out[f"round_{k}"] = turn
    finally:
        servers.stop()
    turns = [out[f"round_{k}"] for k in range(1, rounds + 1)]
    bp = out["bare_paho"]["steady_rate"]
    return out | {
        f"{m}_vs_node_red_median": round(statistics.median(
            t[f"{m}_vs_node_red"] for t in turns), 2) for m in workers} | {
        f"{m}_vs_bare_paho_median": round(statistics.median(
            t[m]["steady_rate"] for t in turns) / bp, 2) for m in workers} | {
        "node_red_vs_bare_paho_median": round(statistics.median(
            t["node_red"]["steady_rate"] for t in turns) / bp, 2)}


def sitewatch(servers: Servers, workdir: Path, reg: Path, workers: str, k: int, devices: int,
              per: int, kill: int) -> dict[str, Any]:
    """`sitewatch serve` with SITEWATCH_WORKERS=`workers` through `drain_and_kill`, on round
    `k`'s database and session, with the CPU its processes used per reading over the whole
    drain (service starts, the kill and the restart included) beside the steady window's."""
    prefix, db = f"sw{workers[0]}{k}", f"bench_sw_{workers}_{k}"
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

    def running_cpu(main_only: bool = False) -> float:
        if serve.proc is None or serve.proc.poll() is not None:
            return 0.0
        return serve.cpu_s(main_only)

    out = drain_and_kill(servers, Consumer(start, stop, kill_9,
                                           lambda: influx_count(servers.influx, db), running_cpu,
                                           lambda: running_cpu(main_only=True)),
                         prefix, devices, per, kill, devices)
    readings = out["readings"] + out["kill_readings"]
    return out | {"workers": workers,
                  "cpu_us_per_reading_with_starts": round(cpu["s"] / readings * 1e6, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run once and print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.queued_drain",
                                description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--per-device", type=int, default=50)
    p.add_argument("--kill", type=int, default=20000, help="readings queued for the kill -9")
    p.add_argument("--workers", default="threads",
                   help="SITEWATCH_WORKERS values to run Sitewatch with, comma separated")
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds, Node-RED and Sitewatch going first in turn")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sitewatch-drain-") as tmp:
        figures = run(Path(tmp), args.devices, args.per_device, args.kill,
                      tuple(args.workers.split(",")), args.rounds)
    print(json.dumps({"machine": machine(), "results": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
