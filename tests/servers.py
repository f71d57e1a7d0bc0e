"""Real servers for tests: Mosquitto, InfluxDB 1.x, PostgreSQL, each on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
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


def stop_process(
    proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0, sig: int = signal.SIGTERM
) -> None:
    """End a child process: `sig`, then SIGKILL if it is still there after `grace_s`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
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
    ready_argv: list[str] | None = None  # a command that exits 0 once the server answers
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    ready: Callable[[], bool] | None = field(default=None, repr=False)  # polled after the port
    stop_signal: int = signal.SIGTERM

    def start(self) -> None:
        """Start the process and wait until it serves."""
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - lives with the process
        # As `user` without runuser in between: runuser answers a signal by passing it on and
        # then sleeping 2 s before it exits, which every stop() (each worker's last teardown, a
        # fault test's outage) paid.
        account = pwd.getpwnam(self.user) if self.user else None
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=log, cwd=self.workdir,
            user=account.pw_uid if account else None, group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
        wait_for_port(self.port)
        if self.ready is not None:  # e.g. PostgreSQL listens before it accepts sessions
            deadline = time.monotonic() + 30
            while not self.ready():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.argv[0]} on port {self.port} is not ready")
                time.sleep(0.05)
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
        if self.ready_argv:
            # PostgreSQL listens before it accepts sessions ("the database system is
            # starting up"); its pg_isready says when it does.
            deadline = time.monotonic() + 20
            while subprocess.run(self.ready_argv, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.argv[0]} is not ready after 20 s")
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process (`stop_signal`, then SIGKILL)."""
        stop_process(self.proc, sig=self.stop_signal)
        self.proc = None


def mosquitto(workdir: Path) -> Server:
    """A Mosquitto with persistence, anonymous access, on a free port."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        missing("mosquitto")
    port = free_port()
    try:  # started as root, Mosquitto runs as its own user: it must write its persistence
        pwd.getpwnam("mosquitto")
        shutil.chown(workdir, "mosquitto")
    except (KeyError, PermissionError):
        pass  # no such user (or not root): Mosquitto runs as us and writes where we can
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


INFLUX_ADMIN = ("admin", "s3cret-admin")  # the user influxdb_with_auth creates (name, password)


def influxdb(workdir: Path, auth: bool = False) -> Server:
    """An InfluxDB 1.x (Debian's 1.6.7) with its data in workdir, on a free HTTP port;
    `auth`: HTTP authentication on (create the first admin with `create_influx_admin`)."""
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
        f"  auth-enabled = {'true' if auth else 'false'}\n"
        "[monitor]\n  store-enabled = false\n"
        "[continuous_queries]\n  enabled = false\n"
    )
    return Server([exe, "-config", str(conf)], port, workdir, f"http://127.0.0.1:{port}/ping")


def create_influx_admin(server: Server) -> None:
    """Create INFLUX_ADMIN over the HTTP API: with auth on, only the first user may be made
    without credentials, and only as an admin."""
    user, password = INFLUX_ADMIN
    q = urllib.parse.urlencode(
        {"q": f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"}
    )
    url = f"http://127.0.0.1:{server.port}/query?{q}"
    urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10).close()


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

    def accepts_sessions() -> bool:
        import psycopg

        try:
            psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                            connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False  # "the database system is starting up"

    # SIGINT is PostgreSQL's fast shutdown: SIGTERM's smart one would wait for every pooled
    # client session to hang up.
    return Server(argv, port, workdir, user="postgres", ready=accepts_sessions,
                  stop_signal=signal.SIGINT)
