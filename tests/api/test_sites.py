"""Site-scoped tokens: a guard at one site neither sees nor acts on another (SPEC §7)."""

from __future__ import annotations

import io
import time
from csv import DictReader
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.auth import Principal
from api.cli import main
from api.runtime import Runtime
from api.sites import frame_visible
from api.tokens import create_token, list_tokens
from rules.db.database import create_engine, open_database
from rules.engine.signals import Signal
from tests.api.conftest import bearer, open_ticket, raise_alert


def annex_alert(rt: Runtime) -> int:
    """An alert at the `annex` site; its id."""
    entries = rt.incidents.apply(
        Signal("door_forced", "access", "annex", "door-9", time.time(), zone="gate",
               device_kind="door", value="door_forced_open", message="forced")
    )
    return entries[0].incident_id


@pytest.fixture
def hq_guard(rt: Runtime) -> dict[str, str]:
    """A security token limited to the `hq` site."""
    return bearer(create_token(rt.engine, "hq-guard", "security", sites=["hq"]))


def test_a_scoped_token_lists_and_counts_only_its_sites_incidents(
    rt: Runtime, client: TestClient, hq_guard: dict[str, str], tokens: dict[str, str]
) -> None:
    mine, theirs = raise_alert(rt), annex_alert(rt)
    page = client.get("/api/v1/incidents", headers=hq_guard).json()
    assert [i["id"] for i in page["items"]] == [mine] and page["total"] == 1
    assert client.get("/api/v1/incidents", params={"site": "annex"},
                      headers=hq_guard).json()["total"] == 0
    everyone = client.get("/api/v1/incidents", headers=bearer(tokens["viewer"])).json()
    assert {i["id"] for i in everyone["items"]} == {mine, theirs}
    status = client.get("/api/v1/status", headers=hq_guard).json()
    assert sum(status["alerts_active_by_severity"].values()) == 1
    report = client.get("/api/v1/reports", headers=hq_guard).json()
    assert report["overall"]["incidents"] == 1
    csv = client.get("/api/v1/reports", params={"format": "csv"}, headers=hq_guard).text
    rows = {row["department"]: row for row in DictReader(io.StringIO(csv))}
    assert rows["all"]["incidents"] == "1"


def test_another_sites_incident_answers_404_to_read_and_to_act(
    rt: Runtime, client: TestClient, hq_guard: dict[str, str]
) -> None:
    theirs = annex_alert(rt)
    assert client.get(f"/api/v1/incidents/{theirs}", headers=hq_guard).status_code == 404
    r = client.post(f"/api/v1/incidents/{theirs}/acknowledge", headers=hq_guard)
    assert r.status_code == 404 and r.json()["detail"] == f"incident {theirs} not found"
    assert client.get("/api/v1/notifications/deliveries", params={"incident_id": theirs},
                      headers=hq_guard).status_code == 404


def test_an_unsited_ticket_is_hidden_from_a_scoped_token(
    rt: Runtime, client: TestClient, hq_guard: dict[str, str]
) -> None:
    unsited = open_ticket(rt, site=None)
    assert client.get(f"/api/v1/incidents/{unsited}", headers=hq_guard).status_code == 404


def test_a_scoped_token_sees_only_its_sites_devices(
    client: TestClient, hq_guard: dict[str, str]
) -> None:
    devices = client.get("/api/v1/devices", headers=hq_guard).json()
    assert {d["site"] for d in devices["items"]} == {"hq"} and devices["total"] == 3
    assert client.get("/api/v1/devices/ahu-1", headers=hq_guard).status_code == 404
    r = client.get("/api/v1/devices/ahu-1/telemetry", params={"metric": "filter_dp_pa"},
                   headers=hq_guard)
    assert r.status_code == 404
    assert client.get("/api/v1/devices/sd-1", headers=hq_guard).status_code == 200
    status = client.get("/api/v1/status", headers=hq_guard).json()
    assert status["devices"]["total"] == 3


def test_a_scoped_token_opens_tickets_only_at_its_sites(
    client: TestClient, hq_guard: dict[str, str]
) -> None:
    bad = client.post("/api/v1/tickets", json={"title": "Gate stuck", "site": "annex"},
                      headers=hq_guard)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "site"]
    ok = client.post("/api/v1/tickets", json={"title": "Gate stuck", "site": "hq"},
                     headers=hq_guard)
    assert ok.status_code == 201


def test_dead_letters_are_filtered_by_the_topics_site(rt: Runtime, client: TestClient) -> None:
    viewer = bearer(create_token(rt.engine, "hq-viewer", "viewer", sites=["hq"]))
    rt.deadletters.add("sitewatch/hq/sd-1/telemetry", "bad_json", "x", b"{", time.time())
    rt.deadletters.add("sitewatch/annex/a/telemetry", "bad_json", "x", b"{", time.time())
    items = client.get("/api/v1/deadletters", headers=viewer).json()["items"]
    assert [i["topic"] for i in items] == ["sitewatch/hq/sd-1/telemetry"]


def test_whoami_shows_the_tokens_sites(rt: Runtime, client: TestClient) -> None:
    token = create_token(rt.engine, "pm", "viewer", sites=["hq", "annex"])
    assert client.get("/api/v1/whoami", headers=bearer(token)).json()["sites"] == ["annex", "hq"]


def test_stream_frames_of_other_sites_are_not_shown_to_a_scoped_token() -> None:
    scoped = Principal("g", "security", frozenset({"hq"}), 1)
    frame = 'id: 3\nevent: opened\ndata: {"entry": {}, "incident": {"site": "%s"}}\n\n'
    assert frame_visible(scoped, frame % "hq")
    assert not frame_visible(scoped, frame % "annex")
    assert frame_visible(scoped, ": keepalive\n\n")
    assert frame_visible(Principal("a", "admin"), frame % "annex")


def test_token_create_with_sites_and_expiry_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SITEWATCH_DATABASE_URL", raising=False)
    assert main(["token", "create", "g", "--role", "security", "--sites", "hq,annex",
                 "--expires", "90d"]) == 0
    assert main(["token", "create", "h", "--role", "viewer", "--sites", "bad site"]) == 2
    assert "must match" in capsys.readouterr().err
    engine = open_database(f"sqlite:///{tmp_path}/sitewatch.db")
    (token,) = list_tokens(engine)
    assert token["sites"] == "annex,hq"
    days = (token["expires_at"] - token["created_at"]).total_seconds() / 86400
    assert 89.9 < days < 90.1
    assert main(["token", "list"]) == 0
    assert "annex,hq" in capsys.readouterr().out


def test_migration_0007_keeps_existing_tokens_and_frees_revoked_names(tmp_path: Path) -> None:
    from alembic import command

    from rules.db.database import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
        conn.exec_driver_sql(
            "INSERT INTO api_tokens (name, role, token_hash, created_at, revoked_at) VALUES "
            "('guard', 'security', 'h1', '2026-01-01 00:00:00', '2026-02-01 00:00:00')"
        )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    engine = open_database(url)
    create_token(engine, "guard", "viewer")  # the revoked name is free again
    with pytest.raises(Exception, match="already exists"):
        create_token(engine, "guard", "viewer")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 2
    engine.dispose()


def test_a_scoped_token_lists_only_its_sites_operations_and_calendar(
    rt: Runtime, client: TestClient, hq_guard: dict[str, str], tokens: dict[str, str]
) -> None:
    ops = rt.operations
    assert ops is not None  # the client's app attached it
    until = datetime.now(UTC) + timedelta(hours=1)
    mine = ops.disable({"site": "hq", "device_id": "sd-1"}, reason="swap", until=until,
                       actor="lead", role="admin").id
    ops.disable({"site": "annex", "device_id": "ahu-1"}, reason="filter", until=until,
                actor="lead", role="admin")
    ops.silence({"site": "annex"}, until=until, comment="works", actor="lead")
    listed = client.get("/api/v1/disablements", headers=hq_guard).json()
    assert [d["id"] for d in listed] == [mine]
    assert client.get("/api/v1/silences", headers=hq_guard).json() == []
    everywhere = {"matchers": {"kind": "ticket"}, "until": until.isoformat(), "comment": "x"}
    refused = client.post("/api/v1/silences", json=everywhere, headers=hq_guard)
    assert refused.status_code == 422 and "site" in refused.json()["detail"][0]["loc"]
    open_ticket(rt, title="Hq tap")
    open_ticket(rt, title="Annex tap", site="annex")
    ics = client.get("/api/v1/schedules.ics", headers=hq_guard).text
    assert "Hq tap" in ics and "Annex tap" not in ics
    assert "Annex tap" in client.get("/api/v1/schedules.ics",
                                     headers=bearer(tokens["viewer"])).text
