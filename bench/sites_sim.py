"""SPEC §11 on one machine: N `sitewatch serve` processes (SITEWATCH_SITES=auto), M sites.

    .venv/bin/python -m bench.sites_sim --instances 3 --sites 12

Own Mosquitto, InfluxDB 1.6.7 and PostgreSQL in a temporary folder. Devices publish telemetry
at a steady rate through the whole run (QoS 1, no `ts`: the store time is the receive time,
so a reading taken twice would be stored twice, at two receive times, and counted); each
reading carries a value unique in the run. Meanwhile:

1. the instances start one after another and divide the sites (balance: sites per instance);
2. `kill -9` of the instance with the most sites → time until every site is served again;
3. the killed instance restarts with its data folder → time until it has its share back;
4. another instance stops gracefully (SIGTERM) → time until its sites are served again.

At the end: readings stored (InfluxDB `count`), distinct values among them; taken twice =
stored - distinct, lost = published - distinct (both must be 0).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import re
import signal
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import Serve, Servers, wait_until
from rules.db.database import open_database
from tests.servers import Server, postgres


class Devices(threading.Thread):
    """Publishes `rate` readings/s spread over every device until stopped; counts broker acks."""

    def __init__(self, port: int, prefix: str, devices: list[tuple[str, str]], rate: float):
        super().__init__(name="devices", daemon=True)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-dev")
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.prefix, self.devices, self.rate = prefix, devices, rate
        self.stopping = threading.Event()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def run(self) -> None:
        start = time.monotonic()
        for n in itertools.count():
            if self.stopping.is_set():
                return
            site, device = self.devices[n % len(self.devices)]
            body = json.dumps({"seq": n // len(self.devices),
                               "metrics": {"temperature_c": float(n)}})  # unique per reading
            self.infos.append(self.client.publish(
                f"{self.prefix}/{site}/{device}/telemetry", body, qos=1))
            ahead = start + (n + 1) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def finish(self) -> int:
        """Stop publishing; wait for every broker ack; how many readings were published."""
        self.stopping.set()
        self.join()
        for info in self.infos:
            info.wait_for_publish(30)
        self.client.disconnect()
        self.client.loop_stop()
        return len(self.infos)


def influx(server: Server, db: str, q: str) -> int:
    """The first value of a one-number InfluxQL answer (0 when no series)."""
    url = f"http://127.0.0.1:{server.port}/query?" + urllib.parse.urlencode({"db": db, "q": q})
    with urllib.request.urlopen(url, timeout=30) as r:
        series = json.load(r)["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def twice(server: Server, db: str, marks: dict[str, float]) -> list[dict[str, Any]]:
    """Each value stored more than once, with its store times relative to the run's events."""
    q = "SELECT temperature_c FROM telemetry"
    url = f"http://127.0.0.1:{server.port}/query?" + urllib.parse.urlencode(
        {"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(url, timeout=60) as r:
        series = json.load(r)["results"][0].get("series") or []
    at: dict[float, list[float]] = {}
    for row in (v for s in series for v in s["values"]):
        at.setdefault(row[1], []).append(row[0] / 1000)
    return [{"value": v, "stored_at": {e: [round(t - m, 3) for t in ts] for e, m in marks.items()}}
            for v, ts in at.items() if len(ts) > 1]


def serving(s: Serve) -> dict[str, bool] | None:
    """Site -> sessions connected, as the instance reports it (None: not answering)."""
    try:
        body = s.get("/health", timeout=2)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    except OSError:
        return None
    return dict(body["checks"]["broker"].get("sites", {}))


def shares(instances: list[Serve], sites: list[str]) -> list[int] | None:
    """Sites per instance when every site is served once with its sessions up, else None."""
    seen = [serving(s) for s in instances]
    if any(x is None for x in seen):
        return None
    served = [site for x in seen if x for site, up in x.items() if up]
    return [len(x or {}) for x in seen] if sorted(served) == sites else None


def timed(instances: list[Serve], sites: list[str], fair: bool, timeout: float = 60,
          since: float | None = None) -> tuple[float, list[int]]:
    """Seconds (from `since`, a monotonic time, or now) until every site is served once (and,
    `fair`, each instance within its share)."""
    t0, high = since or time.monotonic(), math.ceil(len(sites) / len(instances))
    low = len(sites) // len(instances)
    got: list[int] | None = None

    def done() -> bool:
        nonlocal got
        got = shares(instances, sites)
        return got is not None and (not fair or all(low <= n <= high for n in got))

    if not wait_until(done, timeout, 0.1):
        raise RuntimeError(f"sites not served after {timeout} s: {got}")
    assert got is not None
    return round(time.monotonic() - t0, 2), got


def handover_lines(instances: list[Serve]) -> dict[str, int]:
    """What the instances logged of a dead owner's unacked window (api/site_handover.py):
    messages parked by new owners, and how the returning owner settled them."""
    text = "".join((s.workdir / "serve.log").read_text(errors="replace") for s in instances)
    held = re.findall(r"(\d+) redelivered messages held for", text)
    settled = re.findall(r"(\d+) redelivered messages were in our log already, (\d+) were not",
                         text)
    return {"parked": sum(map(int, held)), "in_dead_log": sum(int(a) for a, _ in settled),
            "not_in_dead_log": sum(int(b) for _, b in settled)}


def run(n: int, m: int, per_site: int, rate: float, workdir: Path) -> dict[str, Any]:
    servers = Servers(workdir)
    servers.start()
    (workdir / "pg").mkdir()
    pg = postgres(workdir / "pg")
    pg.start()
    prefix, db = "sim", "sim"
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{servers.influx.port}/query?q=CREATE+DATABASE+{db}", method="POST"))
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        conn.execute("CREATE DATABASE sim")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/sim"
    open_database(url).dispose()  # migrated once, before the instances race for it
    sites = sorted(f"site{i:02d}" for i in range(m))
    devices = [(s, f"zs-{s}-{d}") for s in sites for d in range(per_site)]
    registry = workdir / "devices.yaml"
    registry.write_text("devices:\n" + "".join(
        f"  - {{id: {d}, kind: zone_sensor, site: {s}, zone: z1}}\n" for s, d in devices))
    instances = [Serve(servers.mqtt, servers.influx, workdir / f"i{k}", db, registry, prefix,
                       {"SITEWATCH_SITES": "auto"}, database_url=url) for k in range(n)]
    out: dict[str, Any] = {"instances": n, "sites": m, "devices": len(devices),
                           "rate_per_s": rate}
    feed: Devices | None = None
    try:
        for s in instances:
            s.start()
        out["start_balance_s"], out["shares_at_start"] = timed(instances, sites, fair=True)
        feed = Devices(servers.mqtt.port, prefix, devices, rate)
        feed.start()
        time.sleep(3)

        victim = max(instances, key=lambda s: len(serving(s) or {}))
        assert victim.proc is not None
        marks = {"kill9": time.time()}
        killed = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        rest = [s for s in instances if s is not victim]
        out["takeover_after_kill9_s"], out["shares_after_kill9"] = timed(
            rest, sites, False, since=killed)
        time.sleep(2)
        marks["restart"] = time.time()
        restarted = time.monotonic()
        victim.start()
        out["rebalance_after_restart_s"], out["shares_after_restart"] = timed(
            instances, sites, fair=True, since=restarted)  # from the process start
        time.sleep(2)
        leaving = next(s for s in instances if s is not victim)
        marks["stop"] = time.time()
        stopping = time.monotonic()
        assert leaving.proc is not None
        leaving.proc.terminate()  # SIGTERM; its sites move while it shuts down
        rest = [s for s in instances if s is not leaving]
        out["handover_after_sigterm_s"], out["shares_after_stop"] = timed(
            rest, sites, False, since=stopping)
        leaving.stop()  # waits for the exit (and its drain)
        out["exit_after_sigterm_s"] = round(time.monotonic() - stopping, 2)
        time.sleep(3)
        published = feed.finish()
        feed = None
        q_all = "SELECT count(temperature_c) FROM telemetry"
        q_distinct = "SELECT count(distinct(temperature_c)) FROM telemetry"
        wait_until(lambda: influx(servers.influx, db, q_all) >= published, 60, 0.5)
        time.sleep(2)  # anything stored twice would land by now
        stored = influx(servers.influx, db, q_all)
        distinct = influx(servers.influx, db, q_distinct)
        out.update(published=published, stored=stored, distinct=distinct,
                   taken_twice=stored - distinct, lost=published - distinct)
        if stored != distinct:
            out["twice"] = twice(servers.influx, db, marks)
        # The at-least-once window: in the killed instance's log, its PUBACK not yet sent.
        window = [d for d in out.get("twice", []) if -1 < min(d["stored_at"]["kill9"]) <= 0]
        out["taken_twice_in_kill9_ack_window"] = len(window)
        out["taken_twice_elsewhere"] = out["taken_twice"] - len(window)
        out["handover"] = handover_lines(instances)
    finally:
        if feed is not None:
            feed.finish()
        for s in instances:
            s.stop()
        pg.stop()
        servers.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=3)
    p.add_argument("--sites", type=int, default=12)
    p.add_argument("--devices-per-site", type=int, default=5)
    p.add_argument("--rate", type=float, default=200.0, help="readings/s over all devices")
    p.add_argument("--keep", type=Path, help="keep the instances' folders and logs here")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sites-sim-") as tmp:
        work = Path(tmp) if a.keep is None else a.keep
        work.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o755)
        t0 = time.monotonic()
        result = run(a.instances, a.sites, a.devices_per_site, a.rate, work)
        result["wall_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
