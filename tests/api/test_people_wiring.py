"""`serve`'s wiring of people: routes per on-call person and channel made from the transports
the routes file names under `people:`, the paging and survey jobs, and refusals naming the
file and key."""

from __future__ import annotations

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
