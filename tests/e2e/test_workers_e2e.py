"""`SITEWATCH_WORKERS=processes` end to end: real Mosquitto, InfluxDB 1.6.7, a real subprocess.

The store drain runs in a child process. It stores every reading and the rules (in the parent)
open alerts; `kill -9` of the child mid-load loses nothing and doubles nothing (the supervisor
starts another, which resumes from the committed cursor); health names both processes; a
SIGTERM stops both.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from tests.ingest.helpers import Publisher, wait_until
from tests.servers import Server
from tests.test_serve_e2e import (
    DEVICES,
    TOKEN,
    Serve,
    _alerts,
    _count,
    _env,
    _health,
    _publish,
    _status,
    _sum,
)


def _processes(port: int) -> dict[str, Any]:
    return dict(_health(port)["checks"]["processes"])


def _store_child(port: int) -> dict[str, Any]:
    return dict(_processes(port)["store"])


@pytest.mark.slow
def test_processes_store_every_reading_open_alerts_and_survive_a_kill_9_of_the_store_child(
    mosquitto: Server, influxdb: Server, influx_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = _env(mosquitto, influxdb, influx_db, topic_prefix, tmp_path)
    env["SITEWATCH_WORKERS"] = "processes"
    env["SITEWATCH_BOOTSTRAP_TOKEN"] = TOKEN
    serve = Serve(env, tmp_path)
    serve.start()
    engine = sa.create_engine(env["SITEWATCH_DATABASE_URL"])
    try:
        assert serve.proc is not None
        assert wait_until(lambda: _store_child(serve.port)["alive"], 30), _processes(serve.port)
        procs = _processes(serve.port)
        first = procs["store"]["pid"]
        assert procs["workers"] == "processes" and procs["ok"]
        assert procs["main"]["pid"] == serve.proc.pid and first != serve.proc.pid
        assert psutil.Process(first).ppid() == serve.proc.pid  # a child of the service
        live = _live(serve.port)
        assert live["processes"]["store"]["pid"] == first

        _publish(mosquitto.port, topic_prefix, range(0, 20), "a")  # 2,000 readings
        more = threading.Thread(target=_publish, args=(mosquitto.port, topic_prefix,
                                                       range(20, 40), "b"))
        more.start()  # 2,000 more, during which the store child is killed
        assert wait_until(lambda: _count(influxdb, influx_db) > DEVICES * 20, 20)
        os.kill(first, signal.SIGKILL)
        more.join(60)
        panel = Publisher(mosquitto.port, f"{topic_prefix}-panel")
        body = {"ts": time.time(), "seq": 1, "event": "fire_alarm", "data": {"zones": ["plant"]}}
        panel.publish(f"{topic_prefix}/hq/fp-01/event", json.dumps(body))
        panel.close()

        total = DEVICES * 40
        assert wait_until(lambda: _count(influxdb, influx_db) == total, 60), _count(
            influxdb, influx_db)
        time.sleep(1.0)  # a late second write would show by now
        assert _count(influxdb, influx_db) == total
        expected = sum(20 + (s % 10) / 10 for s in range(40)) * DEVICES
        assert _sum(influxdb, influx_db) == pytest.approx(expected)
        assert wait_until(lambda: _alerts(engine) == 1, 10), "no alert from the fire alarm"

        child = _store_child(serve.port)
        assert child["alive"] and child["pid"] != first and child["restarts"] == 1, child
        assert child["exit_codes"] == [-signal.SIGKILL]
        ingest = _status(serve.port)["ingest"]
        assert ingest["accepted"] == total + 1 and ingest["seq_duplicates"] == 0, ingest
        assert wait_until(lambda: _status(serve.port)["ingest"]["log_depth"]["store"] == 0, 10)

        second = child["pid"]
        serve.stop()  # SIGTERM: the parent stops its child, then itself
        assert serve.proc.returncode == 0
        assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"
        assert _alerts(engine) == 1
    finally:
        serve.stop()
        engine.dispose()


def _live(port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/live", timeout=10) as r:
        return dict(json.load(r)["checks"]["threads"])


@pytest.mark.slow
def test_kill_9_of_the_parent_ends_its_store_child_and_a_restart_stores_what_was_acked(
    mosquitto: Server, influxdb: Server, influx_db: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = _env(mosquitto, influxdb, influx_db, topic_prefix, tmp_path)
    env["SITEWATCH_WORKERS"] = "processes"
    serve = Serve(env, tmp_path)
    serve.start()
    try:
        assert wait_until(lambda: _store_child(serve.port)["alive"], 30)
        child = psutil.Process(_store_child(serve.port)["pid"])
        _publish(mosquitto.port, topic_prefix, range(0, 10), "a")  # 1,000 acked readings
        serve.kill9()
        assert wait_until(lambda: not child.is_running() or child.status() == "zombie", 20), (
            "the store child outlived its parent")
        serve.start()  # the same data folder: whatever was acked and not stored is stored now
        assert wait_until(lambda: _count(influxdb, influx_db) == DEVICES * 10, 60), _count(
            influxdb, influx_db)
    finally:
        serve.stop()
