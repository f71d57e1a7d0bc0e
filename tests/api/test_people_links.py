"""Acknowledge and rating links end to end: the link is taken from a real e-mail (aiosmtpd)
or a real webhook receiver (a local HTTP server), works once through the HTTP pages and a
second use changes nothing; expired, tampered and foreign links get a clear page; the ticket
requester's rating link works once and the report's satisfaction matches known ratings."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import create_token
from rules.audit import log as audit
from rules.notify.dispatcher import Notifier
from rules.notify.routes import Route
from rules.people.contacts import person_routes, requester_routes
from rules.people.links import ACK_TTL_S, RATE_TTL_S, LinkSigner
from rules.people.oncall import parse
from rules.people.paging import Pager
from rules.people.satisfaction import Surveys
from tests.api.conftest import bearer, build_runtime, open_ticket, raise_alert
from tests.rules.test_notify import Mailbox, Receiver, serve_receiver
from tests.servers import free_port

ROTA = """
timezone: Asia/Taipei
people:
  alice: {name: Alice Chen, email: alice@example.com, webhook: "%s"}
departments:
  security:
    rota:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00", person: alice}
"""
LINK = re.compile(r"http://testserver/(?:ack|rate)/[A-Za-z0-9_.-]+")


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    rec, server = serve_receiver(free_port(), [])
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = build_runtime(tmp_path)
    runtime.links = LinkSigner("test-link-secret", "http://testserver")
    yield runtime
    runtime.store.close()
    runtime.engine.dispose()


def transports(smtp_port: int, hook: Receiver) -> tuple[Route, Route]:
    mail = Route(name="people-mail", channel="email", smtp_host="127.0.0.1",
                 smtp_port=smtp_port, mail_from="sitewatch@example.org",
                 mail_to=["nobody@example.org"], actions=[])
    webhook = Route(name="people-hook", channel="webhook", url=hook.url, secret="k",
                    actions=[])
    return mail, webhook


def text_of(raw: bytes) -> str:
    message: Message = message_from_bytes(raw)
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


@pytest.mark.slow  # real SMTP and HTTP servers, an app per case: about 2 s each
@pytest.mark.parametrize("channel", ["email", "webhook"])
def test_the_acknowledge_link_from_a_real_notification_works_once(
    rt: Runtime, smtp: tuple[Mailbox, int], hook: Receiver, channel: str
) -> None:
    box, port = smtp
    rt.oncall = parse(ROTA % hook.url)
    mail, webhook = transports(port, hook)
    routes = person_routes(rt.oncall.config.people, mail, webhook)
    assert rt.links is not None
    pager = Pager(rt.engine, rt.incidents, rt.oncall, rt.links, routes, time.time)
    notifier = Notifier(rt.engine, rt.incidents, [r for m in routes.values() for r in m.values()])
    alert = raise_alert(rt)
    pager.run_due()
    assert notifier.deliver_due() == 2  # the mail and the webhook, each on its own route

    (_, to, raw), = box.messages
    assert to == ["alice@example.com"]
    text = text_of(raw)
    assert "For: Alice Chen (alice)" in text
    (_, body), = hook.requests
    sent = json.loads(body)
    assert sent["person"] == {"id": "alice", "name": "Alice Chen"}
    url = LINK.findall(text)[0] if channel == "email" else sent["acknowledge_url"]
    assert url == sent["acknowledge_url"]  # one page, one link, on every contact
    path = url.removeprefix("http://testserver")

    with TestClient(create_app(rt)) as client:
        page = client.get(path)
        assert page.status_code == 200
        assert "Alice Chen" in page.text and "Fire alarm" in page.text and "確認" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert rt.incidents.get(alert).state == "active"  # GET never changes anything

        done = client.post(path)
        assert done.status_code == 200 and "Acknowledged" in done.text
        assert rt.incidents.get(alert).state == "acknowledged"
        entry = rt.incidents.timeline(alert)[-1]
        assert (entry.action, entry.actor) == ("acknowledged", "alice")
        assert "Alice Chen" in entry.note

        again = client.post(path)
        assert again.status_code == 410 and "already been used" in again.text
        assert "已使用過" in again.text
        assert rt.incidents.timeline(alert)[-1].id == entry.id  # nothing changed
        assert client.get(path).status_code == 410
        fresh = rt.links.url("ack", alert, "alice", time.time(), ACK_TTL_S)
        late = client.get(fresh.removeprefix("http://testserver"))
        assert late.status_code == 409 and "acknowledged" in late.text  # someone was first


@pytest.mark.slow  # about 1 s
def test_expired_tampered_and_foreign_links_get_a_clear_page_and_change_nothing(
    rt: Runtime,
) -> None:
    signer = rt.links
    assert signer is not None
    alert = raise_alert(rt)
    now = time.time()
    expired = signer.token("ack", alert, "alice", now - ACK_TTL_S - 1, ACK_TTL_S)
    good = signer.token("ack", alert, "alice", now, ACK_TTL_S)
    tampered = good[:-3] + ("xyz" if not good.endswith("xyz") else "abc")
    forged = LinkSigner("someone-else", "x").token("ack", alert, "alice", now, ACK_TTL_S)
    rating = signer.token("rate", alert, "requester", now, RATE_TTL_S)
    cases = [(expired, 410, "expired"), (tampered, 403, "not valid"),
             (forged, 403, "not valid"), (rating, 403, "not valid"),
             ("x" * 1200, 400, "not a link of ours")]
    with TestClient(create_app(rt)) as client:
        for token, status, words in cases:
            for method in ("GET", "POST"):
                answer = client.request(method, f"/ack/{token}")
                assert (answer.status_code, words in answer.text) == (status, True), token
        assert client.post(f"/rate/{good}", json={"score": 5}).status_code == 403
        assert client.post(f"/rate/{good}", json={"score": 9}).status_code == 403  # link first
    assert rt.incidents.get(alert).state == "active"
    assert [e.action for e in rt.incidents.timeline(alert)] == ["opened"]


def test_a_requester_is_named_with_a_valid_contact_or_422_names_the_field(rt: Runtime) -> None:
    token = create_token(rt.engine, "desk", "maintenance")
    bad = [({"email": "not-an-address"}, "email"),
           ({"webhook": "http://example.com/hook"}, "webhook"),
           ({"email": "a@example.com", "webhook": "https://example.com/h"}, "requester"),
           ({"phone": "123"}, "phone")]
    with TestClient(create_app(rt)) as client:
        for requester, field in bad:
            r = client.post("/api/v1/tickets", headers=bearer(token),
                            json={"title": "Lamp out", "requester": requester})
            assert r.status_code == 422, requester
            assert field in json.dumps(r.json()["detail"]), r.json()


@pytest.mark.slow  # real SMTP server, about 3 s
def test_the_rating_link_works_once_and_the_report_counts_known_ratings(
    rt: Runtime, smtp: tuple[Mailbox, int], hook: Receiver
) -> None:
    box, port = smtp
    signer = rt.links
    assert signer is not None
    token = create_token(rt.engine, "desk", "maintenance")
    admin = create_token(rt.engine, "boss", "admin")
    mail, webhook = transports(port, hook)
    requesters = requester_routes(mail, webhook)
    surveys = Surveys(rt.engine, signer, requesters, time.time)
    notifier = Notifier(rt.engine, rt.incidents, list(requesters.values()))
    with TestClient(create_app(rt)) as client:
        made = client.post("/api/v1/tickets", headers=bearer(token), json={
            "title": "Meeting room too cold", "requester": {"name": "Mei", "email":
                                                            "mei@example.com"}})
        assert made.status_code == 201
        ticket = made.json()["id"]
        assert surveys.run_due() == 0  # not resolved yet
        assert client.post(f"/api/v1/incidents/{ticket}/resolve", headers=bearer(token),
                           json={"note": "thermostat fixed"}).status_code == 200
        assert surveys.run_due() == 1 and surveys.run_due() == 0  # once
        assert notifier.deliver_due() == 1
        (_, to, raw), = box.messages
        assert to == ["mei@example.com"]
        path = LINK.findall(text_of(raw))[0].removeprefix("http://testserver")
        assert path.startswith("/rate/")

        by_hook = client.post("/api/v1/tickets", headers=bearer(token), json={
            "title": "Door squeaks", "requester": {"webhook": hook.url}}).json()["id"]
        rt.incidents.transition(by_hook, "resolve", actor="desk", note="oiled")
        assert surveys.run_due() == 1 and notifier.deliver_due() == 1
        (_, sent), = hook.requests  # to the requester's own address, on the requesters' route
        assert json.loads(sent)["rate_url"].startswith("http://testserver/rate/")

        form = client.get(path)
        assert form.status_code == 200 and 'name="score"' in form.text and "滿意" in form.text
        assert client.post(path, data={"score": "9"}).status_code == 422  # 1-5 only
        assert client.post(path, data={"score": "4", "comment": "quick, thanks"}).status_code \
            == 200
        assert client.post(path, data={"score": "1"}).status_code == 410  # once
        (rated,), _ = audit.entries(rt.engine, audit.Filters(action="incident.rate"))
        assert (rated.actor, rated.target, rated.detail) == (
            "link:requester", f"incident:{ticket}", {"score": 4})

        # Known ratings: maintenance 4 (above), 5, 2; security 3.
        for department, score in (("maintenance", 5), ("maintenance", 2), ("security", 3)):
            other = open_ticket(rt, department=department)
            link = signer.token("rate", other, "requester", time.time(), RATE_TTL_S)
            assert client.post(f"/rate/{link}", json={"score": score}).status_code == 200
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        report = client.get("/api/v1/reports", headers=bearer(admin),
                            params={"from": start}).json()["satisfaction"]
        csv_rows = {r["department"]: r for r in csv.DictReader(io.StringIO(client.get(
            "/api/v1/reports", headers=bearer(admin),
            params={"from": start, "format": "csv"}).text))}
    assert (csv_rows["maintenance"]["ratings"], csv_rows["maintenance"]["rating_average"]) == (
        "3", "3.67")
    assert (csv_rows["all"]["ratings"], csv_rows["all"]["rating_average"]) == ("4", "3.5")
    assert report["departments"]["maintenance"] == {
        "count": 3, "average": 3.67, "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}}
    assert report["departments"]["security"]["count"] == 1
    assert report["overall"] == {
        "count": 4, "average": 3.5, "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}}


@pytest.mark.slow  # an app: about 1 s
def test_an_address_guessing_links_is_slowed_down_like_one_guessing_tokens(rt: Runtime) -> None:
    rt.settings = Settings(data_dir=rt.settings.data_dir, auth_fail_limit="2/minute")
    assert rt.links is not None
    good = rt.links.token("ack", raise_alert(rt), "alice", time.time(), ACK_TTL_S)
    with TestClient(create_app(rt)) as client:
        assert [client.get(f"/ack/guess{n}").status_code for n in range(3)] == [403, 403, 429]
        assert client.get(f"/ack/{good}").status_code == 429  # until the window passes
