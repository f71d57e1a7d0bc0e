"""A child process the service supervises (`SITEWATCH_WORKERS=processes`): started with
`multiprocessing` (spawn), watched through its sentinel, started again when it dies.

A child that exits unasked (crash, `kill -9`, OOM) is seen at once and started again after
0.5 s, doubling to 10 s while it keeps dying. The child talks to the parent over one pipe:
it sends `(kind, body)` messages (counters, dead letters, its state), the parent sends it
commands. It exits when the parent's end closes (the parent died) or when told to stop.
Subclasses name the child's function and its arguments and take its messages.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger("sitewatch.processes")

RESTART_S = (0.5, 10.0)  # first and longest wait before starting a child that died again
STOP_S = 15.0  # at stop, wait this long for the child's last batch, then kill it


def child_setup(name: str) -> threading.Event:
    """In the child: log with its name, leave ^C to the parent; the returned event is set
    by SIGTERM."""
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s %(name)s[{name}] %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the parent's to handle
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    return stopping


class PipeSender:
    """The child's end of the pipe, shared by its threads: one message at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, message: tuple[str, Any]) -> None:
        with self._lock:
            self._conn.send(message)


class PipeDeadLetters:
    """The child's dead-letter record: each record goes to the parent's over the pipe."""

    def __init__(self, send: Callable[[tuple[str, Any]], None]) -> None:
        self._send = send

    def add(self, topic: str, reason: str, detail: str, payload: bytes, at: float) -> None:
        """Hand one record to the parent."""
        self._send(("deadletter", (topic, reason, detail, payload, at)))


class SupervisedChild(ABC):
    """The parent's side: start, stop, restart and listen to one child process."""

    name = "child"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None  # multiprocessing.Process of the running child
        self._conn: Connection | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.exit_codes: list[int | None] = []  # of children that ended unasked (last 10)

    @abstractmethod
    def _target(self) -> tuple[Callable[..., None], tuple[Any, ...]]:
        """The child's function and its arguments (the pipe's end is added last)."""

    @abstractmethod
    def _take(self, kind: str, body: Any, base: dict[str, Any]) -> None:
        """One message of the child; `base` is per child (its totals so far)."""

    @abstractmethod
    def _started(self) -> None:
        """A new child was started: what it must be told first (sent with `send`)."""

    def start(self) -> None:
        """Start the supervisor thread, which starts the child."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name=f"{self.name}-process",
                                        daemon=True)
        self._thread.start()

    def send(self, message: Any) -> None:
        """A command to the running child; nothing when there is none (`_started` tells the
        next one)."""
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(message)

    def stop(self, timeout: float = STOP_S) -> None:
        """Ask the child to finish its batch and exit; kill it after `timeout` seconds."""
        self._stop.set()
        self.send("stop")
        process = self._process
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                log.error("%s process %s did not stop in %.0f s; killed", self.name,
                          process.pid, timeout)
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

    def process_health(self) -> dict[str, Any]:
        """pid, alive, restarts, start time and exit codes of children that died."""
        process = self._process
        return {"pid": process.pid if process is not None else None, "alive": self.child_alive,
                "restarts": self.restarts, "started_at": self.started_at,
                "exit_codes": list(self.exit_codes)}

    def _supervise(self) -> None:
        delay = RESTART_S[0]
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._run_one()
            except Exception:
                log.exception("%s process supervision failed", self.name)
            if self._stop.is_set():
                break
            self.restarts += 1
            if time.monotonic() - began > 60:
                delay = RESTART_S[0]  # it ran a good while: this is a new failure
            log.error("%s process exited (code %s); starting another in %.1f s", self.name,
                      self.exit_codes[-1:] or "?", delay)
            self._stop.wait(delay)
            delay = min(delay * 2, RESTART_S[1])

    def _run_one(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent_end, child_end = ctx.Pipe()
        target, args = self._target()
        process = ctx.Process(target=target, args=(*args, child_end),
                              name=f"sitewatch-{self.name}", daemon=True)
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        self.started_at = time.time()
        if self._stop.is_set():  # stop() came while this child was being started
            self.send("stop")
        else:
            self._started()
        base: dict[str, Any] = {}
        try:
            while True:
                ready = wait([parent_end, process.sentinel], timeout=1.0)
                if parent_end in ready:
                    try:
                        kind, body = parent_end.recv()
                    except (EOFError, OSError):
                        break  # the child is gone; its sentinel follows
                    if kind == "started":
                        log.info("%s process %s started", self.name, body)
                    else:
                        self._take(kind, body, base)
                elif process.sentinel in ready:
                    break
            process.join(STOP_S if self._stop.is_set() else 5)
        finally:
            self._conn = None
            parent_end.close()
        if not self._stop.is_set():
            self.exit_codes = [*self.exit_codes[-9:], process.exitcode]
