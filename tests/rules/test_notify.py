"""Notifications: route matching, signed webhooks to a real HTTP receiver, retries with one
idempotency key, e-mail to a real SMTP server, maintenance windows, restart and overflow."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from rules.notify.delivery_log import list_deliveries
from rules.notify.dispatcher import Notifier
from rules.notify.routes import NotificationConfigError, Route, parse_routes
from rules.notify.webhook import REPLAY_WINDOW_S, verify
from rules.notify.windows import MaintenanceWindows
from tests.databases import DATABASES
from tests.servers import free_port

T0 = 1_795_773_600.0  # 2026-11-27 10:00:00 UTC
SECRET = "s3cret"
PACK = """
- id: fire-alarm
  title: Fire alarm
  description: A smoke detector is in alarm.
  kind: event
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, latching: true, runbook: "Evacuate the floor."}
- id: filter-clogged
  title: Filter clogged
  description: Filter pressure drop over 250 Pa.
  kind: threshold
  select: {kinds: [air_handler]}
  metric: filter_dp_pa
  above: 250
  raises: {type: ticket, priority: P4, department: maintenance}
"""


class Clock:
    """A clock the test moves by hand (Unix seconds)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Receiver:
    """A real HTTP server that records every request and answers from a script."""

    port: int
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    kept: dict[str, bytes] = field(default_factory=dict)  # idempotency key -> body, once

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def serve_receiver(port: int, script: list[int]) -> tuple[Receiver, ThreadingHTTPServer]:
    """Start a receiver on `port` in a thread."""
    receiver = Receiver(port, list(script))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((dict(self.headers.items()), body))
            status = receiver.script.pop(0) if receiver.script else 200
            if status == 200:
                receiver.kept.setdefault(self.headers["Idempotency-Key"], body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    # shutdown() waits for the serving loop's next poll: 0.05 s, not the default 0.5 s that
    # every test's teardown paid
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return receiver, server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that accepts everything."""
    rec, server = serve_receiver(free_port(), [])
    yield rec
    server.shutdown()
    server.server_close()


class Mailbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free port."""
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: sa.Engine, clock: Clock) -> IncidentService:
    return IncidentService(engine, parse_rules(PACK), clock=clock)


def notifier_for(service: IncidentService, engine: sa.Engine, routes: list[Route],
                 **kw: Any) -> Notifier:
    """A notifier whose cursor is set before the test's changes (as at a first start)."""
    notifier = Notifier(engine, service, routes, **kw)
    notifier.catch_up()
    return notifier


def webhook(url: str, **kw: Any) -> Route:
    return Route(name=kw.pop("name", "hook"), channel="webhook", url=url, secret=SECRET, **kw)


def fire_alarm(service: IncidentService, device: str = "sd-1", zone: str = "hall-a") -> int:
    entries = service.apply(
        Signal("fire-alarm", "fire", "hq", device, T0, zone=zone, device_kind="smoke_detector")
    )
    return entries[0].incident_id


def ticket(service: IncidentService, zone: str = "plant", priority: str = "P4") -> int:
    return service.open_ticket(title="Filter clogged", description="dp 300 Pa",
                               department="maintenance", priority=priority, actor="test",
                               site="hq", zone=zone, device_id="ahu-1").id


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a worker thread's effect, bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_routes_match_by_kind_department_grade_and_action(service: IncidentService) -> None:
    alert = service.get(fire_alarm(service))
    job = service.get(ticket(service))
    security = webhook("https://x", kinds=["alert"], departments=["security"], grades=["critical"])
    escalations = webhook("https://x", actions=["escalated"])
    p1_only = webhook("https://x", kinds=["ticket"], grades=["P1", "P2"])
    assert security.matches(alert, "opened")
    assert not security.matches(job, "opened")
    assert not security.matches(alert, "repeated")  # not a notable action by default
    assert escalations.matches(alert, "escalated") and not escalations.matches(alert, "opened")
    assert not p1_only.matches(job, "opened")  # a P4 ticket
    assert alert.department == "security"


def test_routes_file_errors_name_the_file_and_field() -> None:
    with pytest.raises(NotificationConfigError, match=r"routes\.0.*url and secret"):
        parse_routes("routes:\n  - {name: a, channel: webhook, url: 'http://x'}\n", "n.yaml")
    routes = parse_routes(
        "routes:\n  - {name: ops, channel: email, smtp_host: mail, mail_from: a@b, "
        "mail_to: [c@d], actions: [escalated]}\n"
    )
    assert routes[0].actions == ["escalated"] and routes[0].smtp_port == 25


def test_webhook_signature_is_a_timestamped_hmac_sha256_of_t_dot_body(
    service: IncidentService, engine: sa.Engine, receiver: Receiver, clock: Clock
) -> None:
    notifier = notifier_for(service, engine, [webhook(receiver.url)], clock=clock)
    alert_id = fire_alarm(service)
    notifier.catch_up()
    assert notifier.deliver_due() == 1
    (headers, body), = receiver.requests
    fields = dict(p.split("=", 1) for p in headers["X-Sitewatch-Signature"].split(","))
    assert abs(int(fields["t"]) - time.time()) < 60  # the real clock: receivers check it
    signed = fields["t"].encode() + b"." + body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert verify(headers["X-Sitewatch-Signature"], body, SECRET)
    assert not verify(headers["X-Sitewatch-Signature"], body + b" ", SECRET)
    assert not verify(headers["X-Sitewatch-Signature"], body, SECRET,
                      now=int(fields["t"]) + REPLAY_WINDOW_S + 1)  # a replay, too late
    payload = json.loads(body)
    assert payload["action"] == "opened" and payload["incident"]["id"] == alert_id
    assert payload["incident"]["runbook"] == "Evacuate the floor."
    assert headers["Idempotency-Key"] == f"tl-{payload['change']['id']}-hook"


def test_a_receiver_failing_twice_gets_the_message_once_by_its_idempotency_key(
    service: IncidentService, engine: sa.Engine, clock: Clock
) -> None:
    rec, server = serve_receiver(free_port(), [503, 503])
    try:
        route = webhook(rec.url, backoff_s=30)
        notifier = notifier_for(service, engine, [route], clock=clock)
        fire_alarm(service)
        notifier.catch_up()
        assert notifier.deliver_due() == 0  # 503
        assert notifier.deliver_due() == 0 and len(rec.requests) == 1  # backing off 30 s
        clock.t += 30
        assert notifier.deliver_due() == 0  # 503 again; next wait 60 s
        clock.t += 59
        assert notifier.deliver_due() == 0 and len(rec.requests) == 2
        clock.t += 1
        assert notifier.deliver_due() == 1
    finally:
        server.shutdown()
        server.server_close()
    keys = {h["Idempotency-Key"] for h, _ in rec.requests}
    assert len(rec.requests) == 3 and len(keys) == 1 and len(rec.kept) == 1
    assert len({body for _, body in rec.requests}) == 1  # byte-identical on every attempt
    (delivery,), total = list_deliveries(engine)
    assert (delivery.status, delivery.attempts, delivery.last_error, total) == (
        "delivered", 3, None, 1
    )


def test_a_delivery_that_keeps_failing_is_marked_failed_with_its_last_error(
    service: IncidentService, engine: sa.Engine, clock: Clock
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens
    notifier = notifier_for(service, engine, [webhook(dead, max_attempts=2, backoff_s=0)],
                        clock=clock)
    fire_alarm(service)
    notifier.catch_up()
    notifier.deliver_due()
    notifier.deliver_due()
    (delivery,), _ = list_deliveries(engine, status="failed")
    assert delivery.attempts == 2 and "Connect" in (delivery.last_error or "")


def test_email_goes_over_smtp_with_the_idempotency_key_as_message_id(
    service: IncidentService, engine: sa.Engine, smtp: tuple[Mailbox, int], clock: Clock
) -> None:
    box, port = smtp
    route = Route(name="ops-mail", channel="email", smtp_host="127.0.0.1", smtp_port=port,
                  mail_from="sitewatch@example.org", mail_to=["guards@example.org"])
    notifier = notifier_for(service, engine, [route], clock=clock)
    fire_alarm(service)
    notifier.catch_up()
    assert notifier.deliver_due() == 1
    (mail_from, rcpt, content), = box.messages
    msg = message_from_bytes(content)
    assert (mail_from, rcpt) == ("sitewatch@example.org", ["guards@example.org"])
    key = msg["X-Sitewatch-Idempotency-Key"]
    assert key.startswith("tl-") and key.endswith("-ops-mail")
    assert msg["Message-ID"] == f"<{key}@sitewatch>"
    assert "Fire alarm" in msg["Subject"] and "Evacuate the floor." in msg.get_payload()


def test_a_maintenance_window_mutes_a_ticket_notification_but_never_a_fire_alert(
    service: IncidentService, engine: sa.Engine, receiver: Receiver, clock: Clock
) -> None:
    windows = MaintenanceWindows(engine, clock=clock)
    windows.add(start_at=T0 - 60, end_at=T0 + 3600, zone="plant", reason="AHU overhaul")
    notifier = notifier_for(service, engine, [webhook(receiver.url)], windows=windows,
                        clock=clock)
    ticket_id = ticket(service, zone="plant")
    alert_id = fire_alarm(service, device="sd-12", zone="plant")
    notifier.catch_up()
    assert notifier.deliver_due() == 1
    sent = [json.loads(body)["incident"]["id"] for _, body in receiver.requests]
    assert sent == [alert_id]
    (muted,), _ = list_deliveries(engine, status="muted")
    assert muted.incident_id == ticket_id and muted.attempts == 0


@pytest.mark.parametrize("engine", DATABASES, indirect=True)
def test_sla_breach_and_escalation_reach_the_receiver_exactly_once_each(
    service: IncidentService, engine: sa.Engine, receiver: Receiver, clock: Clock
) -> None:
    route = webhook(receiver.url, name="escalation", actions=["escalated", "sla_breached"])
    notifier = notifier_for(service, engine, [route], clock=clock)
    notifier.start()
    try:
        ticket(service, priority="P1")  # respond within 15 min
        fire_alarm(service)  # critical: escalates after 5 min
        clock.t = T0 + 16 * 60
        changes = service.flag_sla_breaches() + service.escalate_due()
        assert service.flag_sla_breaches() == [] and service.escalate_due() == []
        assert {e.action for e in changes} == {"sla_breached", "escalated"}
        wait_until(lambda: list_deliveries(engine, status="delivered")[1] == len(changes))
    finally:
        notifier.stop()
    assert notifier.catch_up() == 0  # a restart-style sweep over the same entries adds nothing
    assert notifier.deliver_due() == 0
    assert len(receiver.requests) == len(changes) == len(receiver.kept)
    assert {h["Idempotency-Key"] for h, _ in receiver.requests} == {
        f"tl-{e.id}-escalation" for e in changes
    }


def test_pending_deliveries_and_unseen_changes_resume_after_a_restart(
    service: IncidentService, engine: sa.Engine, clock: Clock
) -> None:
    port = free_port()
    route = webhook(f"http://127.0.0.1:{port}/hook", backoff_s=0)
    first = notifier_for(service, engine, [route], clock=clock)
    alert_id = fire_alarm(service)
    first.catch_up()
    assert first.deliver_due() == 0  # the receiver is down: stays pending
    ticket_id = ticket(service)  # changed while no notifier runs
    rec, server = serve_receiver(port, [])
    second = Notifier(engine, service, [route], clock=clock)
    second.start()  # catches up from the cursor, then sends what is pending
    try:
        wait_until(lambda: len(rec.requests) == 2)
    finally:
        second.stop()
        server.shutdown()
        server.server_close()
    sent = {json.loads(body)["incident"]["id"] for _, body in rec.requests}
    assert sent == {alert_id, ticket_id}
    assert list_deliveries(engine, status="delivered")[1] == 2


def test_a_full_route_queue_refuses_counts_and_the_next_refill_sends_the_rest(
    service: IncidentService, engine: sa.Engine, receiver: Receiver, clock: Clock
) -> None:
    notifier = notifier_for(service, engine, [webhook(receiver.url, queue_max=1)], clock=clock)
    lane = notifier.lanes["hook"]
    fire_alarm(service, device="sd-1")
    fire_alarm(service, device="sd-2")
    assert notifier.catch_up() == 2
    notifier._refill(clock())
    assert lane.depth() == 1 and lane.refused == 1  # the second stays pending in the log
    assert notifier.deliver_due() == 2
