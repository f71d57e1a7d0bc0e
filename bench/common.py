"""What every benchmark shares: the servers, a `sitewatch serve` subprocess, probes, the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from tests.servers import Server, free_port, influxdb, mosquitto, stop_process

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sw_bench_" + "x" * 40  # the bootstrap admin token of every benchmark service


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        time.sleep(every)
    return True


class Servers:
    """Mosquitto and InfluxDB 1.x in folders of their own under `workdir`."""

    def __init__(self, workdir: Path) -> None:
        (workdir / "mosquitto").mkdir(parents=True)
        (workdir / "influxdb").mkdir(parents=True)
        self.mqtt: Server = mosquitto(workdir / "mosquitto")
        self.influx: Server = influxdb(workdir / "influxdb")

    def start(self) -> None:
        """Start both and wait until they serve."""
        self.mqtt.start()
        self.influx.start()

    def stop(self) -> None:
        """Stop both."""
        self.mqtt.stop()
        self.influx.stop()


def influx_count(influx: Server, db: str, field: str = "temperature_c") -> int:
    """Points with `field` in measurement telemetry of `db` (-1 when InfluxDB does not answer)."""
    q = urllib.parse.urlencode({"db": db, "q": f"SELECT count({field}) FROM telemetry"})
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{influx.port}/query?{q}", timeout=10) as r:
            body = json.load(r)
    except OSError:
        return -1
    series = body["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


class Serve:
    """A `sitewatch serve` subprocess configured by SITEWATCH_* variables, with its process."""

    def __init__(self, mqtt: Server, influx: Server, workdir: Path, db: str,
                 devices: Path, prefix: str, extra_env: dict[str, str] | None = None,
                 database_url: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **os.environ,
            "SITEWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mqtt.port}",
            "SITEWATCH_MQTT_CLIENT_ID": f"{prefix}-serve",
            "SITEWATCH_MQTT_TOPIC_PREFIX": prefix,
            "SITEWATCH_INFLUX_URL": f"http://127.0.0.1:{influx.port}",
            "SITEWATCH_INFLUX_API": "v1",
            "SITEWATCH_INFLUX_DB": db,
            "SITEWATCH_DATA_DIR": str(workdir / "var"),
            "SITEWATCH_DATABASE_URL": database_url or f"sqlite:///{workdir}/sitewatch.db",
            "SITEWATCH_DEVICES": str(devices),
            "SITEWATCH_API_PORT": str(self.port),
            "SITEWATCH_BOOTSTRAP_TOKEN": TOKEN,
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.argv = [sys.executable, "-m", "api.cli", "serve"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None

    @property
    def base(self) -> str:
        """The API base URL."""
        return f"http://127.0.0.1:{self.port}/api/v1"

    def start(self, timeout: float = 60) -> None:
        """Start the process and wait until its API answers and ingest is connected."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.workdir, stdout=log,
                                     stderr=log)
        self.ps = psutil.Process(self.proc.pid)
        if not wait_until(self._connected, timeout, 0.1):
            self.stop()
            raise RuntimeError((self.workdir / "serve.log").read_text()[-3000:])

    def _connected(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/health", timeout=2) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.load(e)
        except OSError:
            return False
        return bool(body.get("checks", {}).get("broker", {}).get("ok"))

    def get(self, path: str, timeout: float = 10) -> Any:
        """GET an API path with the admin token; the decoded JSON."""
        req = urllib.request.Request(f"{self.base}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    def counters(self) -> dict[str, Any]:
        """Ingest counters as /api/v1/status shows them."""
        return dict(self.get("/status")["ingest"])

    def cpu_s(self, main_only: bool = False) -> float:
        """CPU seconds (user + system) the process and its child processes have used so far
        (SITEWATCH_WORKERS=processes: the ingest child counts too)."""
        assert self.ps is not None
        return tree_cpu_s(self.ps, main_only)

    def rss_mb(self) -> float:
        """Resident set size now of the process and its children together, MB."""
        assert self.ps is not None
        return tree_rss(self.ps) / 1e6

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        stop_process(self.proc, grace_s=20)


class PeakRss:
    """Samples a process's RSS every `every` seconds in a thread; `peak_mb` is the highest."""

    def __init__(self, ps: psutil.Process, every: float = 0.1) -> None:
        self._ps, self._every = ps, every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, tree_rss(self._ps) / 1e6)
            except psutil.Error:
                return
            self._stop.wait(self._every)


def tree(ps: psutil.Process) -> list[psutil.Process]:
    """A process and its live descendants."""
    try:
        return [ps, *ps.children(recursive=True)]
    except psutil.Error:
        return [ps]


def tree_cpu_s(ps: psutil.Process, main_only: bool = False) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    total = 0.0
    for p in [ps] if main_only else tree(ps):
        try:
            t = p.cpu_times()
        except psutil.Error:  # a child that ended meanwhile
            continue
        total += float(t.user + t.system)
    return total


def tree_rss(ps: psutil.Process) -> int:
    """RSS bytes of a process and its live descendants together (PeakRss, Serve)."""
    total = 0
    for p in tree(ps):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            if p is ps:
                raise
    return total


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model and the versions of everything measured."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import paho.mqtt

    return {
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "paho_mqtt": paho.mqtt.__version__,
        "mosquitto": _version(["mosquitto", "-h"]),
        "influxdb": _version(["influxd", "version"]),
        "wrk": _version(["wrk", "--version"]),
    }
