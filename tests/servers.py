"""Real servers for tests: Mosquitto, InfluxDB 1.x, PostgreSQL, each on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.broker import free_port


def missing(what: str) -> None:
    """A server binary is missing: fail under CI, skip on a developer machine."""
    msg = f"{what} is not installed (the README's test command installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def stop_process(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """End a child process: SIGTERM, then SIGKILL if it is still there after `grace_s`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


@dataclass
class Server:
    """A started server process with its port; `stop()`/`start()` for fault injection."""

    argv: list[str]
    port: int
    workdir: Path
    ready_url: str | None = None
    user: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process and wait until it serves."""
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - lives with the process
        argv = ["runuser", "-u", self.user, "--", *self.argv] if self.user else self.argv
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.workdir)
        wait_for_port(self.port)
        if self.ready_url:
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(self.ready_url, timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        stop_process(self.proc)
        self.proc = None


def mosquitto(workdir: Path) -> Server:
    """A Mosquitto with persistence, anonymous access, on a free port."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        missing("mosquitto")
    port = free_port()
    # Started as root, Mosquitto runs as user `mosquitto`: a persistence folder it cannot
    # write makes it lose every session at a restart without a word.
    with contextlib.suppress(KeyError, PermissionError):
        shutil.chown(workdir, user="mosquitto", group="mosquitto")
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        "max_queued_messages 1000000\n"
        "max_inflight_messages 1000\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
    )
    return Server([exe, "-c", str(conf)], port, workdir)


def influxdb(workdir: Path) -> Server:
    """An InfluxDB 1.x (Debian's 1.6.7) with its data in workdir, on a free HTTP port."""
    exe = shutil.which("influxd") or "/usr/bin/influxd"
    if not Path(exe).exists():
        missing("influxd")
    port, rpc = free_port(), free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{workdir}/meta"\n'
        f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n'
        '  query-log-enabled = false\n  wal-fsync-delay = "0s"\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
        "[continuous_queries]\n  enabled = false\n"
    )
    return Server([exe, "-config", str(conf)], port, workdir, f"http://127.0.0.1:{port}/ping")


def postgres(workdir: Path) -> Server:
    """A PostgreSQL cluster of its own (initdb as user postgres) on a free port."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins:
        missing("postgresql")
    bindir = bins[-1]
    data = workdir / "pgdata"
    data.mkdir()
    shutil.chown(workdir, "postgres")
    shutil.chown(data, "postgres")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bindir / "initdb"), "-A", "trust", "-U",
         "postgres", "-D", str(data)],
        check=True, capture_output=True,
    )
    port = free_port()
    argv = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
            "-k", str(workdir), "-c", "fsync=off", "-c", "max_connections=200"]
    return Server(argv, port, workdir, user="postgres")
