"""Benchmark 3: publish of a fire panel's `fire_alarm` -> the incident on the SSE stream.

Background telemetry runs at a paced rate from other processes while `triggers` fire panels
(each its own device, so each opens its own critical alert) send one `fire_alarm` each,
spaced `1 / trigger_rate` seconds apart. A client on GET /api/v1/stream notes when the
`opened` event of each panel arrives. Publish and arrival times are both this process's
wall clock.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from bench.common import TOKEN, Serve, Servers, percentile, wait_until
from bench.loadgen import Load, registry_yaml, split

SITE = "hq"


class StreamWatch:
    """Reads the SSE stream in a thread; `opened[device_id]` = arrival time (Unix seconds).

    `rules`: only incidents of these rules count (None: any), so another rule's incident on
    the same device (a silent panel's staleness) is not taken for the alarm's.
    """

    def __init__(self, base: str, rules: frozenset[str] | None = None) -> None:
        self.opened: dict[str, float] = {}
        self._rules = rules
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._base = base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise  # the stream broke during the measurement, not at shutdown

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(timeout=httpx.Timeout(10, read=None)) as client, client.stream(
            "GET", f"{self._base}/stream", headers=headers
        ) as r:
            r.raise_for_status()
            self.connected.set()
            event = ""
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "opened":
                    now = time.time()
                    incident = json.loads(line[6:])["incident"]
                    if self._rules is None or incident.get("rule_id") in self._rules:
                        self.opened.setdefault(incident["device_id"], now)

    def stop(self) -> None:
        """Stop reading (at the next line)."""
        self._stop.set()


def run(servers: Servers, workdir: Path, devices: int = 2000, background_rate: float = 1000,
        triggers: int = 250, trigger_rate: float = 25, prefix: str = "al") -> dict[str, Any]:
    """p50/p99/max latency of `triggers` fire alarms over `background_rate` readings/s."""
    panels = [f"fp-{i:03d}" for i in range(triggers)]
    reg = workdir / "devices.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    reg.write_text(registry_yaml(devices, SITE, [(p, "fire_panel") for p in panels]))
    serve = Serve(servers.mqtt, servers.influx, workdir, f"bench_{prefix}", reg, prefix)
    serve.start()
    watch = StreamWatch(serve.base)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-trigger")
    try:
        if not watch.connected.wait(10):
            raise RuntimeError("the SSE stream did not connect")
        pub.connect("127.0.0.1", servers.mqtt.port)
        pub.loop_start()
        # Background lasts the trigger phase plus 3 s on each side.
        seconds = triggers / trigger_rate + 6
        per_device = max(1, round(background_rate * seconds / devices))
        load = Load(servers.mqtt.port, split(SITE, devices, 1), prefix, per_device,
                    rate=background_rate, name=f"{prefix}-bg")
        load.go()
        time.sleep(3)
        sent: dict[str, float] = {}
        start = time.time()
        for n, panel in enumerate(panels):
            ahead = start + n / trigger_rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            body = {"ts": time.time(), "seq": 1, "event": "fire_alarm", "data": {"zone": "z00"}}
            sent[panel] = time.time()
            pub.publish(f"{prefix}/{SITE}/{panel}/event", json.dumps(body), qos=1)
        wait_until(lambda: len(watch.opened) >= triggers, 30)
        bg = load.wait()
        lat = [(watch.opened[p] - sent[p]) * 1000 for p in panels if p in watch.opened]
        return {
            "triggers": triggers,
            "received": len(lat),
            "background_rate": round(bg.rate),
            "p50_ms": round(percentile(lat, 50), 1),
            "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(max(lat), 1),
        }
    finally:
        watch.stop()
        pub.loop_stop()
        serve.stop()
