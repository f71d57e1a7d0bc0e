"""The peer an integrator would build instead: a Node-RED flow from MQTT to InfluxDB.

`mqtt in` (QoS 1, persistent session) -> a function node (topic and JSON to a point) -> `join`
1,000 (or 1 s) -> `node-red-contrib-influxdb`'s batch node (InfluxDB 1.x). Node-RED and the
node are installed with npm into a temporary folder by the benchmark (never by the tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

from bench.common import wait_until
from tests.servers import free_port, stop_process

NODE_RED = "node-red@4.1.15"  # the version the issue measured
INFLUX_NODE = "node-red-contrib-influxdb@0.7.0"

# Topic `{prefix}/{site}/{device}/telemetry`, payload {"ts", "seq", "metrics"}: the same
# point Sitewatch stores (measurement telemetry, tags site and device, the metrics as fields).
TO_POINT = """
const parts = msg.topic.split('/');
const body = JSON.parse(msg.payload);
const fields = Object.assign({seq: body.seq}, body.metrics);
msg.payload = {measurement: 'telemetry', tags: {site: parts[1], device: parts[2]},
               fields: fields, timestamp: Math.round(body.ts * 1000)};
return msg;
"""


def install(folder: Path) -> Path:
    """npm-install Node-RED and the InfluxDB node into `folder`; the path of red.js."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: apt-get install npm (the Node-RED comparison needs it)")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                    "--prefix", str(folder), NODE_RED, INFLUX_NODE], check=True)
    return folder / "node_modules" / "node-red" / "red.js"


def flow(mqtt_port: int, topic: str, client_id: str, influx_port: int, db: str) -> list[dict]:
    """The flow's nodes as Node-RED's flow file holds them."""
    return [
        {"id": "tab", "type": "tab", "label": "bench"},
        {"id": "broker", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(mqtt_port),
         "clientid": client_id, "autoConnect": True, "usetls": False, "protocolVersion": "4",
         "keepalive": "60", "cleansession": False, "autoUnsubscribe": False},
        {"id": "in", "type": "mqtt in", "z": "tab", "topic": topic, "qos": "1",
         "datatype": "utf8", "broker": "broker", "nl": False, "rap": True, "rh": 0,
         "inputs": 0, "wires": [["point"]]},
        {"id": "point", "type": "function", "z": "tab", "func": TO_POINT, "outputs": 1,
         "wires": [["n-join"]]},
        {"id": "n-join", "type": "join", "z": "tab", "mode": "custom", "build": "array",
         "property": "payload", "propertyType": "msg", "count": "1000", "timeout": "1",
         "accumulate": False, "wires": [["batch"]]},
        {"id": "influx", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx_port),
         "protocol": "http", "database": db, "influxdbVersion": "1.x", "usetls": False},
        {"id": "batch", "type": "influxdb batch", "z": "tab", "influxdb": "influx",
         "precision": "ms", "retentionPolicy": "", "wires": []},
    ]


class NodeRed:
    """A Node-RED process running `flow(...)` from its own user folder."""

    def __init__(self, red_js: Path, workdir: Path, nodes: list[dict]) -> None:
        self.red_js, self.workdir = red_js, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "flows.json").write_text(json.dumps(nodes))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = workdir / "node-red-0.log"

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until its flows run (the admin API answers)."""
        self.starts += 1
        self.log = self.workdir / f"node-red-{self.starts}.log"  # one per start
        log = open(self.log, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            ["node", str(self.red_js), "--userDir", str(self.workdir), "--port", str(self.port),
             str(self.workdir / "flows.json")], stdout=log, stderr=log, cwd=self.workdir)

        def up() -> bool:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/flows", timeout=1).close()
            except OSError:
                return False
            return "Started flows" in self.log.read_text()

        if not wait_until(up, timeout, 0.2):
            raise RuntimeError(self.log.read_text()[-2000:])

    def connected(self) -> bool:
        """Whether its MQTT client has connected (Node-RED logs it)."""
        return "Connected to broker" in self.log.read_text()

    def stop(self) -> None:
        """A clean stop (SIGTERM)."""
        stop_process(self.proc, grace_s=20)

    def kill(self) -> None:
        """kill -9."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
