"""The life-safety lane: a fire alarm queued at the broker behind a telemetry backlog.

`sitewatch serve` runs once (so both of its persistent sessions exist at the broker) and
stops. While it is down, `backlog` QoS 1 readings are published, then one `fire_alarm`.
Then it starts again, and this measures from the moment its API first answers:
- when the fire alarm's alert exists (polled every 20 ms; `opened_at` also reported),
- how many readings of the backlog were still not stored at that moment,
- when the whole backlog is in InfluxDB (the backlog still drains).

    .venv/bin/python -m bench.lane_latency [--backlog 100000] [--devices 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Serve, Servers, influx_count, wait_until
from bench.loadgen import Fleet, publish_all, registry_yaml

SITE = "hq"
PANEL = "fp-lane"
CHUNK = 50_000  # messages per publisher connection


class Watch:
    """Polls the service from a thread: when the API first answers, when the alert exists."""

    def __init__(self, serve: Serve, servers: Servers, db: str) -> None:
        self.serve, self.servers, self.db = serve, servers, db
        self.up_at: float | None = None
        self.alert_at: float | None = None
        self.opened_at: float | None = None
        self.stored_at_alert: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set() and self.alert_at is None:
            if self.up_at is None:
                try:
                    urllib.request.urlopen(f"{self.serve.base}/health", timeout=1).close()
                    self.up_at = time.time()
                except urllib.error.HTTPError:
                    self.up_at = time.time()  # 503: up, a dependency not (yet) ready
                except OSError:
                    pass
            else:
                try:
                    page = self.serve.get(f"/incidents?device_id={PANEL}", timeout=2)
                except OSError:
                    page = {"items": []}
                if page["items"]:
                    self.alert_at = time.time()
                    opened = page["items"][0]["opened_at"]
                    self.opened_at = datetime.fromisoformat(opened).timestamp()
                    self.stored_at_alert = influx_count(self.servers.influx, self.db)
                    return
            self._stop.wait(0.02)


def run(servers: Servers, workdir: Path, backlog: int = 100_000, devices: int = 1000,
        prefix: str = "lane") -> dict[str, Any]:
    """Seconds from API up to the alert, and to the backlog stored, with the backlog queued."""
    workdir.mkdir(parents=True, exist_ok=True)
    reg = workdir / "devices.yaml"
    reg.write_text(registry_yaml(devices, SITE, [(PANEL, "fire_panel")]))
    db = f"bench_{prefix}"
    serve = Serve(servers.mqtt, servers.influx, workdir, db, reg, prefix)
    serve.start()  # both persistent sessions subscribed at the broker
    serve.stop()
    per_device = max(1, backlog // devices)
    fleet = Fleet(SITE, tuple(range(devices)))
    messages = fleet.telemetry(prefix, per_device)
    total = 0
    for start in range(0, len(messages), CHUNK):  # paho's packet ids wrap at 65,535
        total += publish_all(servers.mqtt.port, f"{prefix}-backlog",
                             messages[start : start + CHUNK]).sent
    alarm = {"ts": time.time(), "seq": 1, "event": "fire_alarm", "data": {"zone": "z00"}}
    publish_all(servers.mqtt.port, f"{prefix}-alarm",
                [(f"{prefix}/{SITE}/{PANEL}/event", json.dumps(alarm).encode())])
    watch = Watch(serve, servers, db)
    started = time.time()
    watch.start()
    try:
        serve.start(timeout=120)
        wait_until(lambda: watch.alert_at is not None, 60, 0.05)
        drained = wait_until(lambda: influx_count(servers.influx, db) >= total, 300, 0.2)
        drained_at = time.time()
    finally:
        watch.stop()
        serve.stop()
    if watch.up_at is None or watch.alert_at is None:
        raise RuntimeError(f"no alert: up {watch.up_at}, alert {watch.alert_at}")
    return {
        "backlog": total,
        "api_up_after_start_s": round(watch.up_at - started, 2),
        "alert_after_up_s": round(watch.alert_at - watch.up_at, 3),
        "opened_at_after_up_s": round((watch.opened_at or 0) - watch.up_at, 3),
        "stored_when_alert_opened": watch.stored_at_alert,
        "backlog_drained": drained,
        "drained_after_up_s": round(drained_at - watch.up_at, 1),
    }


def main() -> None:
    """Run once against servers of its own and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sitewatch-lane-"))
    servers = Servers(workdir)
    servers.start()
    try:
        print(json.dumps(run(servers, workdir / "run", args.backlog, args.devices), indent=2))
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
