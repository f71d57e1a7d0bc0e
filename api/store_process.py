"""The store drain in a process of its own (`SITEWATCH_WORKERS=processes`).

`sitewatch serve` is one Python process; its threads share one interpreter lock, so the
paho thread, the log writer, the rules and the store drain take turns on one core. With
`processes`, the telemetry log's `store` consumer runs in a spawned child process instead:
the same `LogConsumer` over the same `TelemetryStore`, reading the same durable log file
(SQLite WAL: the parent appends, both read, each commits its own cursor). Nothing else
moves: the rules, the life-safety lane and the API stay in the parent, which keeps every
in-memory part the API reads.

The parent supervises: a child that exits (crash, `kill -9`, OOM) is seen at once through
its process sentinel and started again (0.5 s, doubling to 10 s while it keeps dying); the
new child resumes from the cursor the old one committed, so a batch written to the store
but not committed is written again, which the store takes as the same points (readings
keep their timestamp: InfluxDB and the embedded store overwrite, never add). The child
exits when the parent's end of the pipe closes (the parent died) and at `stop()` after
its current batch. Counters (stored, retries, refused) and dead letters travel over the
pipe; the parent adds them to its own so `/api/v1/status` and `/metrics` read as before.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from api.settings import Settings
from ingest.consumer import LogConsumer
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog

log = logging.getLogger("sitewatch.processes")

CONSUMER = "store"
LOG_FILE = "buffer.sqlite3"
REPORT_S = 0.1  # the child reports its counters and cursor this often
POLL_S = 0.01  # the child looks for new log rows this often while the log is empty
RESTART_S = (0.5, 10.0)  # first and longest wait before starting a child that died again
STOP_S = 15.0  # at stop, wait this long for the child's last batch, then kill it


class _PipeDeadLetters:
    """The child's dead-letter record: each record goes to the parent's over the pipe."""

    def __init__(self, send: Any) -> None:
        self._send = send

    def add(self, topic: str, reason: str, detail: str, payload: bytes, at: float) -> None:
        """Hand one record to the parent."""
        self._send(("deadletter", (topic, reason, detail, payload, at)))


def run_child(settings: Settings, conn: Connection) -> None:
    """The child process: drain the log's `store` consumer until told to stop or orphaned."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s[store] %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the parent's to handle
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with lock:
            conn.send(message)

    from ingest.stores.factory import open_store

    reading_log = ReadingLog(Path(settings.data_dir) / LOG_FILE, poll_s=POLL_S)
    store = open_store(settings)
    counters = IngestCounters()
    consumer = LogConsumer(
        reading_log, CONSUMER, store.write, settings.batch_max, counters,
        _PipeDeadLetters(send),  # type: ignore[arg-type]  # only `add` is used
    )
    consumer.start()
    try:
        send(("started", os.getpid()))
        while not stopping.is_set() and consumer.running:
            if conn.poll(REPORT_S):
                conn.recv()  # "stop" (EOFError: the parent is gone)
                break
            send(("counts", _counts(counters, reading_log)))
    except (EOFError, OSError):
        pass  # the parent died: stop, the next parent's child resumes from the cursor
    finally:
        consumer.stop()
        with contextlib.suppress(EOFError, OSError):
            send(("counts", _counts(counters, reading_log)))
        store.close()
        reading_log.close()


def _counts(counters: IngestCounters, reading_log: ReadingLog) -> dict[str, int]:
    snap = counters.snapshot()
    return {
        "handled": snap["handled"].get(CONSUMER, 0),
        "retries": snap["retries"].get(CONSUMER, 0),
        "dropped": snap["dropped"].get(CONSUMER, 0),
        "upto": reading_log.cursor(CONSUMER),
    }


class StoreDrainProcess:
    """The parent's side: `LogConsumer`'s start/stop/running/health over a supervised child."""

    name = CONSUMER

    def __init__(self, settings: Settings, reading_log: ReadingLog, counters: IngestCounters,
                 deadletters: DeadLetters) -> None:
        self._settings = settings
        self._log = reading_log
        self._counters = counters
        self._deadletters = deadletters
        reading_log.register(CONSUMER)  # rows wait for the store before any child runs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None  # multiprocessing.Process of the running child
        self._conn: Connection | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.exit_codes: list[int | None] = []  # of children that ended unasked (last 10)

    def start(self) -> None:
        """Start the supervisor thread, which starts the child."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name="store-process",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_S) -> None:
        """Ask the child to finish its batch and exit; kill it after `timeout` seconds."""
        self._stop.set()
        conn, process = self._conn, self._process
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send("stop")
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                log.error("store process %s did not stop in %.0f s; killed", process.pid, timeout)
                process.kill()
                process.join(5)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def running(self) -> bool:
        """The supervisor is alive: the child runs, or is being started again."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def child_alive(self) -> bool:
        """The child process exists now."""
        process = self._process
        return process is not None and process.is_alive()

    def health(self) -> dict[str, Any]:
        """As `LogConsumer.health`, plus the child process: pid, alive, restarts."""
        process = self._process
        alive = self.child_alive
        return {
            "ok": self.running and alive, "running": self.running,
            "depth": self._log.depth(CONSUMER),
            "process": {"pid": process.pid if process is not None else None, "alive": alive,
                        "restarts": self.restarts, "started_at": self.started_at,
                        "exit_codes": list(self.exit_codes)},
        }

    def _supervise(self) -> None:
        delay = RESTART_S[0]
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._run_one()
            except Exception:
                log.exception("store process supervision failed")
            if self._stop.is_set():
                break
            self.restarts += 1
            if time.monotonic() - began > 60:
                delay = RESTART_S[0]  # it ran a good while: this is a new failure
            log.error("store process exited (code %s); starting another in %.1f s",
                      self.exit_codes[-1:] or "?", delay)
            self._stop.wait(delay)
            delay = min(delay * 2, RESTART_S[1])

    def _run_one(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe()
        process = ctx.Process(target=run_child, args=(self._settings, child_end),
                              name="sitewatch-store", daemon=True)
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        self.started_at = time.time()
        if self._stop.is_set():  # stop() came while this child was being started
            with contextlib.suppress(OSError):
                parent_end.send("stop")
        base = {"handled": 0, "retries": 0, "dropped": 0}  # this child's totals so far
        try:
            while True:
                ready = wait([parent_end, process.sentinel], timeout=1.0)
                if parent_end in ready:
                    try:
                        self._take(parent_end.recv(), base)
                    except (EOFError, OSError):
                        break  # the child is gone; its sentinel follows
                elif process.sentinel in ready:
                    break
            process.join(STOP_S if self._stop.is_set() else 5)
        finally:
            parent_end.close()
        if not self._stop.is_set():
            self.exit_codes = [*self.exit_codes[-9:], process.exitcode]

    def _take(self, message: tuple[str, Any], base: dict[str, int]) -> None:
        kind, body = message
        if kind == "counts":
            n = body["handled"] - base["handled"]
            if n:
                self._counters.add_handled(CONSUMER, n)
            for _ in range(body["retries"] - base["retries"]):
                self._counters.add_retry(CONSUMER)
            if body["dropped"] > base["dropped"]:
                self._counters.add_dropped(CONSUMER, body["dropped"] - base["dropped"])
            base.update({k: body[k] for k in base})
            self._log.note_cursor(CONSUMER, body["upto"])
            self._counters.set_log_depth(CONSUMER, self._log.depth(CONSUMER))
        elif kind == "deadletter":
            self._deadletters.add(*body)
        elif kind == "started":
            log.info("store process %s draining %s", body, self._log.path)
