"""`serve`'s wiring of people: routes per on-call person and channel made from the transports
the routes file names under `people:`, the paging and survey jobs, and refusals naming the
file and key."""

from __future__ import annotations

import re
import time
from email import message_from_bytes
from pathlib import Path

import pytest

from api.people import build_people, public_url
from api.settings import Settings
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.notify.routes import NotificationConfigError, load_people_routes
from rules.people.oncall import parse
from tests.databases import migrated_sqlite

ROUTES = """
routes:
  - {name: people-mail, channel: email, actions: [], smtp_host: 127.0.0.1,
     mail_from: sw@example.org, mail_to: [x@example.org]}
  - {name: people-hook, channel: webhook, actions: [], url: "http://127.0.0.1:9/h", secret: k}
people: {email: people-mail, webhook: people-hook}
"""
ONCALL = """
people:
  alice: {name: Alice, email: alice@example.com, webhook: "http://127.0.0.1:9/alice"}
  "bob smith": {name: Bob, email: bob@example.com}
departments:
  security:
    rota: [{days: [mon], start: "08:00", end: "20:00", person: alice}]
"""


def test_each_person_gets_a_route_per_contact_and_serve_gets_the_jobs(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text(ROUTES)
    settings = Settings(data_dir=tmp_path, notifications=tmp_path / "routes.yaml",
                        public_url="https://sw.example.org")
    engine = migrated_sqlite(tmp_path / "sw.db")
    incidents = IncidentService(engine, parse_rules("[]", "empty"))
    parts = build_people(settings, engine, incidents, parse(ONCALL))
    by_name = {r.name: r for r in parts.routes}
    assert sorted(by_name) == ["oncall.alice.email", "oncall.alice.webhook",
                               "oncall.bob-smith.email", "requesters.email",
                               "requesters.webhook"]
    assert by_name["oncall.alice.email"].mail_to == ["alice@example.com"]
    assert by_name["oncall.alice.webhook"].url == "http://127.0.0.1:9/alice"
    assert all(r.actions == [] for r in parts.routes)  # they carry only notices to people
    assert sorted(j.name for j in parts.jobs) == ["oncall-paging", "satisfaction-surveys"]
    assert parts.signer.base_url == "https://sw.example.org"
    assert public_url(Settings(data_dir=tmp_path)) == "http://127.0.0.1:8000"
    engine.dispose()


@pytest.mark.parametrize(("people", "words"), [
    ("{email: nowhere}", "people.email: no email route 'nowhere'"),
    ("{email: people-hook}", "people.email: no email route 'people-hook'"),
    ("{fax: people-mail}", "fax"),
])
def test_a_people_key_naming_no_such_route_is_refused(
    tmp_path: Path, people: str, words: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES.replace("{email: people-mail, webhook: people-hook}", people))
    with pytest.raises(NotificationConfigError, match=words):
        load_people_routes(path)


@pytest.mark.slow  # the whole composition root and a real SMTP server: about 2 s
def test_serve_pages_the_person_on_duty_by_real_mail_with_a_working_link(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.service import Service
    from rules.engine.signals import Signal
    from tests.rules.test_notify import Mailbox
    from tests.servers import free_port

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    routes = ROUTES.replace("smtp_host: 127.0.0.1,", f"smtp_host: 127.0.0.1, smtp_port: {port},")
    (tmp_path / "routes.yaml").write_text(routes)
    always = ONCALL.replace("days: [mon]", "days: [mon, tue, wed, thu, fri, sat, sun]")
    (tmp_path / "oncall.yaml").write_text(always.replace('start: "08:00", end: "20:00"',
                                                         'start: "00:00", end: "24:00"'))
    service = Service(Settings(data_dir=tmp_path, notifications=tmp_path / "routes.yaml",
                               oncall=tmp_path / "oncall.yaml", public_url="http://testserver"))
    try:
        alert = service.incidents.apply(Signal(
            "fire_alarm", "fire", "hq", "sd-1", time.time(), zone="hall-a",
            device_kind="smoke_detector"))[0].incident_id
        paging = next(j for j in service.jobs._jobs if j.name == "oncall-paging")  # noqa: SLF001
        assert service.jobs.run_once(paging)
        assert service.notifier.deliver_due() >= 1
        (_, to, raw), = box.messages
        assert to == ["alice@example.com"]
        text = message_from_bytes(raw).get_payload(decode=True)
        assert isinstance(text, bytes)  # the body as a mail client shows it
        path = re.findall(r"http://testserver(/ack/\S+)", text.decode())[0]
        with TestClient(create_app(service.runtime)) as client:
            assert client.post(path).status_code == 200
        entry = service.incidents.timeline(alert)[-1]
        assert (entry.action, entry.actor) == ("acknowledged", "alice")
    finally:
        controller.stop()
        service.store.close()
        service.engine.dispose()
