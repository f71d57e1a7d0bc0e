"""SPEC §11 end to end: `sitewatch serve` instances with SITEWATCH_SITES=auto on one real
Mosquitto, one PostgreSQL and one InfluxDB 1.6.7, dividing a registry of four sites.

One story, in the order an operator lives it: two instances divide the sites and take each
reading once; with InfluxDB down, `kill -9` of one (its acked readings on its disk only) → the
other takes its sites over within 30 s with what the broker queued meanwhile, and a fire
alarm sent meanwhile opens exactly one alert; the killed instance comes back with its disk,
stores what it had acked and gets its share back, and a change made by one instance reaches
the other's event stream; a graceful stop hands the sites over at once, losing nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.databases import MigratedDatabases
from tests.ingest.helpers import Publisher, wait_until
from tests.servers import Server, free_port, stop_process

SITES = ["s1", "s2", "s3", "s4"]
SENSORS = 5  # zone sensors per site
PER_PHASE = 10  # readings per sensor per phase
TOKEN = "sites-e2e-bootstrap-token-0123456789"
T0 = 1_790_000_000.0


def _registry(path: Path) -> Path:
    lines = ["devices:"]
    for s in SITES:
        lines += [f"  - {{id: zs-{s}-{i}, kind: zone_sensor, site: {s}, zone: z1}}"
                  for i in range(SENSORS)]
        lines.append(f"  - {{id: sd-{s}, kind: smoke_detector, site: {s}, zone: z1}}")
    path.write_text("\n".join(lines) + "\n")
    return path


class Instance:
    """One `sitewatch serve` subprocess with its own data folder and API port."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "SITEWATCH_DATA_DIR": str(workdir / "var"),
                    "SITEWATCH_API_PORT": str(free_port())}
        self.workdir = workdir
        self.port = int(self.env["SITEWATCH_API_PORT"])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=self.env,
                                     cwd=self.workdir, stdout=log, stderr=log)
        assert wait_until(lambda: self.health() is not None, 40), self.log()

    def log(self) -> str:
        return (self.workdir / "serve.log").read_text()

    def get(self, path: str) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)  # 503 from /health has the same body

    def health(self) -> dict[str, Any] | None:
        try:
            return self.get("/api/v1/health")  # type: ignore[no-any-return]
        except OSError:
            return None

    def serving(self) -> dict[str, bool]:
        """Site -> both sessions connected, as this instance reports it."""
        h = self.health()
        return dict(h["checks"]["broker"]["sites"]) if h else {}

    def accepted(self) -> int:
        return int(self.get("/api/v1/status")["ingest"]["accepted"])

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, grace_s=20)


def _count(influx: Server, db: str) -> int:
    q = urllib.parse.urlencode({"db": db, "q": "SELECT count(temperature_c) FROM telemetry"})
    with urllib.request.urlopen(f"http://127.0.0.1:{influx.port}/query?{q}", timeout=5) as r:
        series = json.load(r)["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def _publish(port: int, prefix: str, phase: int, alarm_at: str | None = None) -> None:
    pub = Publisher(port, f"{prefix}-devices-{phase}")
    for seq in range(PER_PHASE):
        for s in SITES:
            for i in range(SENSORS):
                body = {"ts": T0 + phase * 1000 + seq + i / 100 + SITES.index(s) / 10,
                        "seq": phase * PER_PHASE + seq, "metrics": {"temperature_c": 21.0}}
                pub.publish(f"{prefix}/{s}/zs-{s}-{i}/telemetry", json.dumps(body))
    if alarm_at is not None:
        body = {"ts": time.time(), "event": "alarm", "data": {}}
        pub.publish(f"{prefix}/{alarm_at}/sd-{alarm_at}/event", json.dumps(body))
    pub.close()


PHASE = len(SITES) * SENSORS * PER_PHASE  # readings per phase


def _divided(*instances: Instance) -> bool:
    served = [i.serving() for i in instances]
    sites = [s for x in served for s in x]
    return sorted(sites) == SITES and all(all(x.values()) for x in served)


def _alerts(instance: Instance, device: str) -> list[dict[str, Any]]:
    body = instance.get(f"/api/v1/incidents?device_id={device}&limit=50")
    items = body["items"] if isinstance(body, dict) else body
    return [i for i in items if i["kind"] == "alert"]


def test_instances_divide_sites_take_over_and_hand_over(
    mosquitto: Server, influxdb: Server, influx_db: str, pg_databases: MigratedDatabases,
    topic_prefix: str, tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto.port}",
        "SITEWATCH_MQTT_CLIENT_ID": f"{topic_prefix}-serve",
        "SITEWATCH_MQTT_TOPIC_PREFIX": topic_prefix,
        "SITEWATCH_INFLUX_URL": f"http://127.0.0.1:{influxdb.port}",
        "SITEWATCH_INFLUX_API": "v1",
        "SITEWATCH_INFLUX_DB": influx_db,
        "SITEWATCH_DATABASE_URL": pg_databases.new_url(),
        "SITEWATCH_DEVICES": str(_registry(tmp_path / "devices.yaml")),
        "SITEWATCH_SITES": "auto",
        "SITEWATCH_BOOTSTRAP_TOKEN": TOKEN,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    a, b = Instance(env, tmp_path / "a"), Instance(env, tmp_path / "b")
    try:
        a.start()
        assert wait_until(lambda: _divided(a), 20), a.serving()
        b.start()
        assert wait_until(lambda: _divided(a, b) and len(b.serving()) == 2, 30), (
            a.serving(), b.serving())

        # Each reading taken once in total: by the one owner of its site.
        _publish(mosquitto.port, topic_prefix, 1)
        assert wait_until(lambda: _count(influxdb, influx_db) == PHASE, 30)
        assert wait_until(lambda: a.accepted() + b.accepted() == PHASE, 10), (
            a.accepted(), b.accepted())

        # InfluxDB down: both instances ack into their durable logs; then kill -9 of an owner
        # with its share of those readings acked but not stored.
        influxdb.stop()
        try:
            b_before = b.accepted()
            _publish(mosquitto.port, topic_prefix, 2)
            assert wait_until(lambda: a.accepted() + b.accepted() == 2 * PHASE, 20)
            on_b_disk = b.accepted() - b_before
            lost = sorted(b.serving())
            b.kill9()
            killed_at = time.monotonic()
        finally:
            influxdb.start()

        # Its sites, and what the broker queued for them meanwhile, move within 30 s; a fire
        # alarm sent meanwhile opens exactly one alert.
        _publish(mosquitto.port, topic_prefix, 3, alarm_at=lost[0])
        assert wait_until(lambda: _divided(a) and len(a.serving()) == 4, 30), a.serving()
        takeover_s = time.monotonic() - killed_at
        assert takeover_s < 30
        assert wait_until(lambda: len(_alerts(a, f"sd-{lost[0]}")) >= 1, 15)
        # The survivor stores everything but what waits on the dead instance's disk (plus at
        # most the few readings of its last batch whose acks never left: redelivered here).
        without_b = 3 * PHASE - on_b_disk
        assert wait_until(lambda: _count(influxdb, influx_db) >= without_b, 30)
        time.sleep(1.0)  # a second alert, or more readings, would show by now
        assert without_b <= _count(influxdb, influx_db) < 3 * PHASE
        assert len(_alerts(a, f"sd-{lost[0]}")) == 1

        # The killed instance returns with its disk: it stores what it had acked, gets its
        # share back, and the stream of each instance carries the other's changes (the shared
        # change log, polled).
        b.start()
        assert wait_until(lambda: _count(influxdb, influx_db) == 3 * PHASE, 30)
        assert wait_until(lambda: _divided(a, b) and len(b.serving()) == 2, 30), (
            a.serving(), b.serving())
        frames: list[str] = []
        threading.Thread(target=_read_stream, args=(b, frames), daemon=True).start()
        time.sleep(0.5)
        before = a.accepted()
        b_before = b.accepted()
        at_a = sorted(a.serving())[0]
        _publish(mosquitto.port, topic_prefix, 4, alarm_at=at_a)
        assert wait_until(lambda: _count(influxdb, influx_db) == 4 * PHASE, 30)
        taken = lambda: a.accepted() - before + b.accepted() - b_before  # noqa: E731
        assert wait_until(lambda: taken() == PHASE + 1, 10), taken()  # and the alarm
        assert wait_until(lambda: any(f"sd-{at_a}" in f for f in frames), 15), frames[-5:]

        # Graceful stop: every site handed over at the survivor's next check, nothing lost.
        a.stop()
        stopped_at = time.monotonic()
        assert a.proc is not None and a.proc.returncode == 0, a.log()[-2000:]  # stopped in order
        _publish(mosquitto.port, topic_prefix, 5)
        assert wait_until(lambda: _divided(b) and len(b.serving()) == 4, 10), b.serving()
        handover_s = time.monotonic() - stopped_at
        assert wait_until(lambda: _count(influxdb, influx_db) == 5 * PHASE, 30)
        print(f"takeover after kill -9: {takeover_s:.1f} s; after a stop: {handover_s:.1f} s")
    finally:
        a.stop()
        b.stop()


def _read_stream(instance: Instance, frames: list[str]) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{instance.port}/api/v1/stream",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            for line in r:
                frames.append(line.decode())
    except OSError:
        pass
