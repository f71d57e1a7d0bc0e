"""`sitewatch serve` end to end: real Mosquitto, real InfluxDB 1.6.7, a real subprocess.

10,000 QoS 1 readings from 100 devices, through an InfluxDB outage and a `kill -9` of the
service, all end up in InfluxDB exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.ingest.helpers import Publisher, wait_until
from tests.servers import Server, free_port, stop_process

DEVICES = 100
PER_DEVICE = 100
T0 = 1_790_000_000.0  # 2026-09-21: a fixed base so every reading has its own timestamp


def _registry(path: Path) -> Path:
    lines = ["devices:"]
    lines += [
        f"  - {{id: zs-{i:03d}, kind: zone_sensor, site: hq, zone: z{i % 10}}}"
        for i in range(DEVICES)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _count(influx: Server, db: str) -> int:
    q = urllib.parse.urlencode({"db": db, "q": "SELECT count(temperature_c) FROM telemetry"})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{influx.port}/query?{q}", timeout=5) as r:
            body = json.load(r)
    except OSError:
        return -1
    series = body["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def _sum(influx: Server, db: str) -> float:
    q = urllib.parse.urlencode({"db": db, "q": "SELECT sum(temperature_c) FROM telemetry"})
    with urllib.request.urlopen(f"http://127.0.0.1:{influx.port}/query?{q}", timeout=5) as r:
        return float(json.load(r)["results"][0]["series"][0]["values"][0][1])


class Serve:
    """A `sitewatch serve` subprocess."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = int(env["SITEWATCH_API_PORT"])

    def start(self) -> None:
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve"], env=self.env, cwd=self.workdir,
            stdout=log, stderr=log,
        )
        assert wait_until(self._healthy_enough, 30), (self.workdir / "serve.log").read_text()

    def _healthy_enough(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1)
            return True
        except urllib.error.HTTPError:
            return True  # 503: up, with a dependency down (InfluxDB during the outage)
        except OSError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc, grace_s=20)


def _publish(port: int, prefix: str, seqs: range, name: str) -> None:
    pub = Publisher(port, f"{prefix}-{name}")
    for seq in seqs:
        for i in range(DEVICES):
            payload = {
                "ts": T0 + seq + i / 1000,
                "seq": seq,
                "metrics": {"temperature_c": 20 + (seq % 10) / 10, "humidity_pct": 40.0},
            }
            pub.publish(f"{prefix}/hq/zs-{i:03d}/telemetry", json.dumps(payload))
    pub.close()


@pytest.mark.slow
def test_every_reading_survives_an_influx_outage_and_a_kill_9(
    mosquitto: Server, influxdb: Server, influx_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto.port}",
        "SITEWATCH_MQTT_CLIENT_ID": f"{topic_prefix}-serve",
        "SITEWATCH_MQTT_TOPIC_PREFIX": topic_prefix,
        "SITEWATCH_INFLUX_URL": f"http://127.0.0.1:{influxdb.port}",
        "SITEWATCH_INFLUX_API": "v1",
        "SITEWATCH_INFLUX_DB": influx_db,
        "SITEWATCH_DATA_DIR": str(tmp_path / "var"),
        "SITEWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/sitewatch.db",
        "SITEWATCH_DEVICES": str(_registry(tmp_path / "devices.yaml")),
        "SITEWATCH_API_PORT": str(free_port()),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    serve = Serve(env, tmp_path)
    serve.start()
    try:
        _publish(mosquitto.port, topic_prefix, range(0, 30), "a")  # 3,000 while all is up
        influxdb.stop()
        try:
            _publish(mosquitto.port, topic_prefix, range(30, 60), "b")  # 3,000 into the outage
            time.sleep(0.5)
            serve.kill9()
            _publish(mosquitto.port, topic_prefix, range(60, 80), "c")  # 2,000 while it is dead
            serve.start()
        finally:
            influxdb.start()
        _publish(mosquitto.port, topic_prefix, range(80, 100), "d")  # the last 2,000
        total = DEVICES * PER_DEVICE
        assert wait_until(lambda: _count(influxdb, influx_db) == total, 60), _count(
            influxdb, influx_db
        )
        expected = sum(20 + (s % 10) / 10 for s in range(PER_DEVICE)) * DEVICES
        assert _sum(influxdb, influx_db) == pytest.approx(expected)
    finally:
        serve.stop()
