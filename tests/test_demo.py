"""`sitewatch demo` as a newcomer runs it: a subprocess, the printed token, the API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ingest.helpers import wait_until
from tests.servers import free_port

# What the demo's scenario must have raised by the end of its two-minute window.
SCRIPTED = {
    ("door_forced", "door-07"), ("door_held_open", "door-08"), ("fire_alarm", "fp-01"),
    ("detector_alarm", "sd-06"), ("access_denied_burst", "door-01"),
    ("filter_clogged", "ahu-02"), ("zone_overheat", "zs-05"), ("life_safety_stale", "sd-11"),
}


class Demo:
    """A `sitewatch demo` subprocess and its printed token."""

    def __init__(self, data_dir: Path, run: int) -> None:
        self.port, self.broker_port = free_port(), free_port()
        self.out = data_dir.parent / f"demo-{run}.out"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "demo", "--data-dir", str(data_dir),
             "--port", str(self.port), "--broker-port", str(self.broker_port)],
            stdout=self.out.open("ab"), stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        # The banner is printed once the API listens.
        assert wait_until(lambda: "token" in self.out.read_text(), 60), self.out.read_text()
        self.token = re.findall(r"token\s+(\S+)", self.out.read_text())[0]

    def get(self, path: str) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    def incidents(self) -> set[tuple[str, str]]:
        items = self.get("/api/v1/incidents?limit=500")["items"]
        return {(i["rule_id"], i["device_id"]) for i in items}

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(30)


@pytest.mark.slow
def test_demo_raises_its_scripted_incidents_and_keeps_them_across_a_restart(tmp_path: Path):
    data = tmp_path / "demo"
    demo = Demo(data, 1)
    try:
        assert wait_until(lambda: demo.get("/api/v1/status")["devices"]["by_state"]["online"]
                          >= 40, 30)
        assert wait_until(lambda: demo.incidents() >= SCRIPTED, 150), (
            SCRIPTED - demo.incidents(), demo.out.read_text()[-3000:])
        fire = next(i for i in demo.get("/api/v1/incidents?kind=alert&severity=critical")["items"]
                    if i["rule_id"] == "fire_alarm")
        assert fire["state"] == "active" and fire["runbook"]
        before = demo.get("/api/v1/incidents?limit=500")["total"]
    finally:
        assert demo.stop() == 0, demo.out.read_text()[-3000:]

    again = Demo(data, 2)
    try:
        assert again.token == demo.token
        time.sleep(1)
        kept = again.get("/api/v1/incidents?limit=500")
        assert kept["total"] >= before
        assert {(i["rule_id"], i["device_id"]) for i in kept["items"]} >= SCRIPTED
        still = next(i for i in kept["items"] if i["rule_id"] == "fire_alarm")
        assert still["id"] == fire["id"] and still["state"] == "active"  # latched, not duplicated
    finally:
        assert again.stop() == 0
