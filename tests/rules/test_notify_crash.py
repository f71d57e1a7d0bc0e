"""kill -9 during a notification send: after a restart every notification has been sent at
least once (the interrupted ones again, same idempotency key) and is recorded exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rules.db.database import open_database
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.notify.delivery_log import list_deliveries
from rules.notify.dispatcher import Notifier
from tests.rules.test_notify import wait_until
from tests.servers import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 3


class HoldingReceiver:
    """A real HTTP receiver that, while `holding` is set, takes requests and never answers."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.keys: list[str] = []  # Idempotency-Key of every request received
        self.answered: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                receiver.keys.append(key)
                if receiver.holding.is_set():
                    receiver.release.wait(60)
                    return  # the sender is dead by now: no answer
                receiver.answered.add(key)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    rec = HoldingReceiver()
    yield rec
    rec.close()


def child(url: str, hook: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rules.notify_child", url, hook], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_kill_9_mid_send_resends_after_restart_and_logs_each_notification_once(
    tmp_path: Path, receiver: HoldingReceiver
) -> None:
    url = f"sqlite:///{tmp_path / 'sw.db'}"
    engine: sa.Engine = open_database(url)
    service = IncidentService(engine, parse_rules("[]"))
    Notifier(engine, service, []).catch_up()  # the cursor exists before the changes
    for i in range(TICKETS):
        service.open_ticket(title=f"leak {i}", description="", department="maintenance",
                            priority="P2", actor="test")
    receiver.holding.set()
    first = child(url, receiver.url)
    try:
        wait_until(lambda: len(receiver.keys) >= 2, timeout=30)  # two sends in flight, held
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        stop_process(first)
    interrupted = set(receiver.keys)
    assert list_deliveries(engine, status="delivered")[1] == 0  # nothing recorded as sent
    receiver.holding.clear()
    receiver.release.set()
    second = child(url, receiver.url)
    try:
        wait_until(lambda: list_deliveries(engine, status="delivered")[1] == TICKETS, timeout=30)
    finally:
        stop_process(second)
    items, total = list_deliveries(engine)
    assert total == TICKETS and {d.status for d in items} == {"delivered"}
    assert len({d.idempotency_key for d in items}) == TICKETS  # one row per notification
    assert receiver.answered == {d.idempotency_key for d in items}  # each sent at least once
    assert all(receiver.keys.count(k) >= 2 for k in interrupted)  # resent after the crash
    engine.dispose()
