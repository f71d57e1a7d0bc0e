"""The telemetry session and its log writer in a process of their own
(`SITEWATCH_WORKERS=processes`, without `SITEWATCH_SITES`).

`sitewatch serve` is one Python process by default; its threads share one interpreter lock.
paho's network thread and the log writer (decode, caps, encode, SQLite append, acks) held
about half of it during a drain, the rules and the store drain most of the rest. With
`processes` the same `IngestPipeline` runs in a spawned child: it appends to the same durable
log file (`var/buffer.sqlite3`, SQLite WAL) and acks after the commit, as before. The parent's
rules and store consumers read that file with their own cursors, look for new rows every
10 ms, and decode each row once for both. The life-safety lane stays in the parent, so a fire
alarm never crosses a process boundary before its incident.

What crosses the pipe: from the parent, `connect` (once the lane has subscribed), device
changes (the registry the API changed) and `stop`; from the child every 0.1 s, its counters
(received, accepted, rejected, warnings, seq gaps), its session's state and the log's newest
id, and each dead letter as it happens. A child that dies is started again by the parent's
supervisor (api/child_process.py); what it had not acked the broker sends to the next one,
which takes over the same persistent session. If the parent dies, the child sees its pipe
close, finishes its batch, acks it and disconnects.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from api.child_process import PipeDeadLetters, PipeSender, SupervisedChild, child_setup
from api.lanes import LANE_LOG, LANE_MARKER, LifeSafetyLane, life_safety_filters
from api.settings import Settings
from devices.registry import Registry
from devices.tls import TlsFiles
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.disk import MB, LogDiskGuard
from ingest.log import ReadingLog
from ingest.pipeline import IngestPipeline

NAME = "ingest"
LOG_FILE = "buffer.sqlite3"  # the telemetry lane's durable log, in the data folder
REPORT_S = 0.1  # the child reports its counters and state this often
POLL_S = 0.01  # the parent's readers of the log look for the child's new rows this often


def ingest_apart(settings: Settings) -> bool:
    """Whether the telemetry session runs in a child process (and the log is appended there)."""
    return settings.workers == "processes" and settings.sites is None


def telemetry_ingest(settings: Settings, registry: Registry, reading_log: ReadingLog,
                     counters: IngestCounters, deadletters: DeadLetters,
                     lane: LifeSafetyLane, disk: LogDiskGuard,
                     ) -> IngestPipeline | IngestProcess:
    """The telemetry session: in this process (`threads`, or with per-site sessions), or in a
    child (`processes`)."""
    if ingest_apart(settings):
        return IngestProcess(settings, registry, reading_log, counters, deadletters, disk)
    return _pipeline(settings, registry, reading_log, counters, deadletters,
                     lane.subscribed_once, disk)


def _pipeline(settings: Settings, registry: Registry, reading_log: ReadingLog,
              counters: IngestCounters, deadletters: Any,  # DeadLetters or PipeDeadLetters
              lane_ready: Callable[[], bool], disk: LogDiskGuard) -> IngestPipeline:
    return IngestPipeline(
        mqtt_url=settings.mqtt_url,
        client_id=settings.mqtt_client_id,
        prefix=settings.mqtt_topic_prefix,
        registry=registry,
        log=reading_log,
        counters=counters,
        deadletters=deadletters,
        queue_max=settings.queue_max,
        elsewhere=life_safety_filters(settings.mqtt_topic_prefix),
        elsewhere_ready=lane_ready,
        disk=disk,
        tls=TlsFiles(settings.mqtt_ca_file, settings.mqtt_cert_file, settings.mqtt_key_file),
    )


class _LaneMarker:
    """The lane's `subscribed_once`, read in the child from the file the parent's lane writes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen = False

    def __call__(self) -> bool:
        if not self._seen:
            self._seen = self._path.exists()
        return self._seen


def run_child(settings: Settings, registry: Registry, conn: Connection) -> None:
    """The child process: the telemetry session until told to stop or orphaned."""
    stopping = child_setup(NAME)
    send = PipeSender(conn)
    data = Path(settings.data_dir)
    reading_log = ReadingLog(data / LOG_FILE, decoded_max=0)  # nothing here reads it back
    lane_log = ReadingLog(data / LANE_LOG)  # only measured, for the disk limits
    disk = LogDiskGuard([reading_log, lane_log], int(settings.log_soft_limit_mb * MB),
                        int(settings.log_hard_limit_mb * MB))
    counters = IngestCounters()
    pipeline = _pipeline(settings, registry, reading_log, counters, PipeDeadLetters(send),
                         _LaneMarker(data / LANE_MARKER), disk)
    pipeline.start(connect=False)
    connected = False
    try:
        send(("started", os.getpid()))
        while not stopping.is_set():
            if conn.poll(REPORT_S):
                command = conn.recv()  # EOFError: the parent is gone
                if command == "stop":
                    break
                if command == "connect" and not connected:
                    connected = True
                    pipeline.connect()
                elif command[0] == "registry":
                    registry.replace(*command[1])
            send(("state", _state(pipeline, counters, disk, reading_log)))
    except (EOFError, OSError):
        pass  # the parent died: stop; what was not acked goes to the next session
    finally:
        pipeline.stop()
        with contextlib.suppress(EOFError, OSError):
            send(("state", _state(pipeline, counters, disk, reading_log)))
        reading_log.close()
        lane_log.close()


def _state(pipeline: IngestPipeline, counters: IngestCounters, disk: LogDiskGuard,
           reading_log: ReadingLog) -> dict[str, Any]:
    return {
        "counts": counters.totals(), "disk_refused": disk.refused,
        "last_id": reading_log.newest_id, "connected": pipeline.session.connected,
        "writer_running": pipeline.writer_running, "queue_depth": pipeline.queue_depth,
    }


_NO_STATE: dict[str, Any] = {"connected": False, "writer_running": False, "queue_depth": 0}


class IngestProcess(SupervisedChild):
    """`IngestPipeline`'s start/connect/stop/health over a supervised child."""

    name = NAME

    def __init__(self, settings: Settings, registry: Registry, reading_log: ReadingLog,
                 counters: IngestCounters, deadletters: DeadLetters, disk: LogDiskGuard) -> None:
        super().__init__()
        self._settings = settings
        self._registry = registry
        self._log = reading_log
        self._counters = counters
        self._deadletters = deadletters
        self._disk = disk
        self._connect = False  # asked to connect: every child started from now on does
        self._started_with = -1  # the registry version the newest child was started with
        self._state: dict[str, Any] = _NO_STATE

    def _target(self) -> tuple[Any, tuple[Any, ...]]:
        self._started_with = self._registry.version
        return run_child, (self._settings, self._registry)

    def _started(self) -> None:
        self._state = _NO_STATE  # not the dead child's
        if self._registry.version != self._started_with:  # changed while it was starting
            self.use_registry(self._registry)
        if self._connect:
            self.send("connect")

    def start(self, connect: bool = True) -> None:
        """Start the child (and, unless `connect` is False: `connect()` later, its session)."""
        self._connect = connect
        super().start()

    def connect(self) -> None:
        """Have the child connect its broker session (from any thread)."""
        self._connect = True
        self.send("connect")

    def use_registry(self, registry: Registry) -> None:
        """A device changed at runtime: the child decodes with the new registry (a child
        starting meanwhile is sent it by `_started`)."""
        self.send(("registry", (registry.devices, registry.zones)))

    @property
    def writer_running(self) -> bool:
        """The supervisor is alive (it starts the child again when the child dies)."""
        return self.running

    def health(self) -> dict[str, Any]:
        """As `IngestPipeline.health`, plus the child process: pid, alive, restarts."""
        alive = self.child_alive
        state = self._state
        connected = alive and state["connected"]
        writer = alive and state["writer_running"]
        return {
            "ok": connected and writer, "connected": connected,
            "queue_depth": state["queue_depth"], "queue_max": self._settings.queue_max,
            "writer_running": writer,
            "log_depth": {c: self._log.depth(c) for c in self._log.consumers()},
            "process": self.process_health(),
        }

    def _take(self, kind: str, body: Any, base: dict[str, Any]) -> None:
        if kind == "state":
            self._counters.add_totals(body["counts"], base.get("counts"))
            self._disk.refused += body["disk_refused"] - base.get("disk_refused", 0)
            base["counts"], base["disk_refused"] = body["counts"], body["disk_refused"]
            self._log.note_newest(body["last_id"])
            self._state = body
        elif kind == "deadletter":
            self._deadletters.add(*body)
