"""GET /api/v1/audit (SPEC §8.6): every change made through the API is there, with its actor,
token, target and site; system actions are not; filters, paging, CSV and the period limit."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.runtime import Runtime
from api.tokens import create_token
from rules.audit.log import PAGE_MAX
from rules.db.schema import api_tokens, audit_log
from tests.api.conftest import bearer, raise_alert


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def h(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Headers per role."""
    return {role: bearer(t) for role, t in tokens.items()}


def _audit(client: TestClient, h: dict[str, dict[str, str]], **query: Any) -> dict[str, Any]:
    r = client.get("/api/v1/audit", params={"limit": 500, **query}, headers=h["admin"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _token_id(rt: Runtime, name: str) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(sa.select(api_tokens.c.id).where(
            api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).scalar_one())


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.slow  # ~2.5 s on SQLite: some forty requests, one of each kind of change
def test_every_kind_of_change_made_through_the_api_is_audited_and_no_system_action_is(
    client: TestClient, h: dict[str, dict[str, str]], rt: Runtime
) -> None:
    post, patch = client.post, client.patch
    alert = raise_alert(rt)  # the rule engine's: a system action, never an audit entry
    _ok(post(f"/api/v1/incidents/{alert}/acknowledge", json={"note": "on it"},
             headers=h["security"]))
    _ok(post(f"/api/v1/incidents/{alert}/comment", json={"note": "smoke"}, headers=h["security"]))
    _ok(post(f"/api/v1/incidents/{alert}/resolve", json={"code": "real"}, headers=h["security"]))
    grouped = raise_alert(rt)
    _ok(post(f"/api/v1/incidents/{grouped}/acknowledge", json={"group": True},
             headers=h["security"]))
    ticket = _ok(post("/api/v1/tickets", json={"title": "Leak", "site": "hq"},
                      headers=h["maintenance"]))["id"]
    _ok(post(f"/api/v1/incidents/{ticket}/assign", json={"assignee": "tom"},
             headers=h["maintenance"]))
    _ok(post(f"/api/v1/incidents/{ticket}/start", headers=h["maintenance"]))
    _ok(post(f"/api/v1/incidents/{ticket}/resolve", json={"note": "fixed"},
             headers=h["maintenance"]))
    door = raise_alert(rt, "door_forced", device_id="door-1")
    shelved = _ok(post(f"/api/v1/incidents/{door}/shelve", json={"until": _in(600)},
                       headers=h["security"]))
    _ok(post(f"/api/v1/shelvings/{shelved['id']}/end", headers=h["security"]))
    target = {"site": "hq", "device_id": "door-1"}
    made = _ok(post("/api/v1/disablements", headers=h["admin"],
                    json={"target": target, "reason": "lock", "until": _in(600)}))
    _ok(post(f"/api/v1/disablements/{made['id']}/end", headers=h["admin"]))
    made = _ok(post("/api/v1/tests", json={"target": target, "until": _in(600)},
                    headers=h["security"]))
    _ok(post(f"/api/v1/tests/{made['id']}/end", headers=h["security"]))
    made = _ok(post("/api/v1/silences", headers=h["maintenance"], json={
        "matchers": {"site": "hq"}, "until": _in(600), "comment": "drill"}))
    _ok(post(f"/api/v1/silences/{made['id']}/end", headers=h["maintenance"]))
    again = post(f"/api/v1/silences/{made['id']}/end", headers=h["maintenance"])
    assert again.status_code == 409  # refused: its transaction wrote no entry (counted below)
    made = _ok(post("/api/v1/maintenance-windows", headers=h["maintenance"], json={
        "matchers": {"site": "hq", "zone": "hall-a"}, "start": _in(60), "end": _in(600),
        "note": "works"}))
    _ok(post(f"/api/v1/maintenance-windows/{made['id']}/end", headers=h["maintenance"]))
    emergency = _ok(post("/api/v1/emergencies", headers=h["security"], json={
        "plan": "fire", "target": {"site": "hq", "zone": "hall-a"}}))["id"]
    _ok(post(f"/api/v1/emergencies/{emergency}/end", json={"note": "out"},
             headers=h["security"]))
    _ok(post("/api/v1/devices", headers=h["admin"], json={
        "id": "hd-9", "kind": "heat_detector", "site": "hq", "zone": "hall-a"}))
    _ok(patch("/api/v1/devices/hd-9", json={"name": "Heat 9"}, headers=h["admin"]))
    _ok(client.delete("/api/v1/devices/hd-9", headers=h["admin"]))
    _ok(post("/api/v1/calendar-links", json={"name": "tom phone"}, headers=h["maintenance"]))

    items = _audit(client, h, actor="security-user")["items"]
    assert [(e["action"], e["target"]) for e in items][::-1] == [
        ("incident.acknowledge", f"incident:{alert}"),
        ("incident.comment", f"incident:{alert}"),
        ("incident.resolve", f"incident:{alert}"),
        ("incident.acknowledge_group", f"incident:{grouped}"),
        ("incident.shelve", f"incident:{door}"),
        ("incident.unshelve", f"incident:{door}"),
        ("walktest.start", "walktest:1"),
        ("walktest.end", "walktest:1"),
        ("emergency.declare", f"incident:{emergency}"),
        ("incident.resolve", f"incident:{emergency}"),
    ]
    security_id = _token_id(rt, "security-user")
    assert {e["actor_token_id"] for e in items} == {security_id}
    assert {e["site"] for e in items} == {"hq"}
    ack = items[-1]
    assert ack["detail"]["from_state"] == "active" and ack["detail"]["note"] == "on it"
    assert ack["detail"]["changed"]["state"] == "acknowledged"

    every = _audit(client, h)["items"]
    actions = {(e["actor"], e["action"]) for e in every}
    assert {
        ("maintenance-user", "incident.open"), ("maintenance-user", "incident.assign"),
        ("maintenance-user", "incident.start"), ("maintenance-user", "incident.resolve"),
        ("admin-user", "disablement.create"), ("admin-user", "disablement.end"),
        ("maintenance-user", "silence.create"), ("maintenance-user", "silence.end"),
        ("maintenance-user", "window.create"), ("maintenance-user", "window.end"),
        ("admin-user", "device.create"), ("admin-user", "device.update"),
        ("admin-user", "device.retire"), ("maintenance-user", "calendar_link.create"),
        ("SITEWATCH_DEVICES", "device.create"),  # the registry file imported at start
    } <= actions
    assert [e["action"] for e in every].count("silence.end") == 1
    assert {e["target"] for e in every if e["action"].startswith("device.")
            and e["actor"] == "admin-user"} == {"device:hq/hd-9"}
    # The rule engine opened alert, grouped and door: no entry says so.
    assert not [e for e in every if e["action"] == "incident.open"
                and e["target"] in {f"incident:{i}" for i in (alert, grouped, door)}]
    assert all(e["actor"] != "system" for e in every)


def test_filters_page_and_csv_select_what_was_asked(
    client: TestClient, h: dict[str, dict[str, str]], rt: Runtime
) -> None:
    alerts = [raise_alert(rt) for _ in range(3)]
    for i in alerts:
        _ok(client.post(f"/api/v1/incidents/{i}/comment", json={"note": f"n{i}"},
                        headers=h["security"]))
    create_token(rt.engine, "night-guard", "security", actor="admin-user")

    one = _audit(client, h, target=f"incident:{alerts[1]}")["items"]
    assert [(e["action"], e["detail"]["note"]) for e in one] == [
        ("incident.comment", f"n{alerts[1]}")]
    family = _audit(client, h, action="incident")
    assert family["total"] == 3 and {e["action"] for e in family["items"]} == {"incident.comment"}
    assert [e["target"] for e in _audit(client, h, target="token", actor="admin-user")["items"]
            ] == ["token:night-guard"]
    assert _audit(client, h, action="token.create", actor="admin-user")["total"] == 1
    assert _audit(client, h, action="token.revoke")["total"] == 0
    later = _audit(client, h, **{"from": _in(3600), "to": _in(7200)})
    assert later["total"] == 0 and later["items"] == []

    first = _audit(client, h, action="incident", limit=2)
    assert [e["target"] for e in first["items"]] == [f"incident:{i}" for i in alerts[:0:-1]]
    assert first["next_offset"] == 2
    rest = _audit(client, h, action="incident", limit=2, offset=2)
    assert [e["target"] for e in rest["items"]] == [f"incident:{alerts[0]}"]
    assert rest["next_offset"] is None

    r = client.get("/api/v1/audit", headers=h["admin"],  # every match: `limit` is the JSON's
                   params={"action": "incident", "format": "csv", "limit": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["target"] for row in rows] == [f"incident:{i}" for i in alerts[::-1]]
    assert rows[0]["actor"] == "security-user" and '"note"' in rows[0]["detail"]
    with rt.engine.begin() as conn:  # more than one page of the database reads behind the CSV
        conn.execute(audit_log.insert(), [
            {"at": datetime.now(UTC), "actor": "bulk", "action": "bulk.made",
             "target": f"bulk:{n}", "detail": {}} for n in range(PAGE_MAX + 20)])
    r = client.get("/api/v1/audit", params={"actor": "bulk", "format": "csv", "offset": 5},
                   headers=h["admin"])
    ids = [row["target"] for row in csv.DictReader(io.StringIO(r.text))]
    assert ids == [f"bulk:{n}" for n in range(PAGE_MAX + 14, -1, -1)]


def test_only_an_admin_of_every_site_reads_it_and_a_bad_period_is_422_naming_the_field(
    client: TestClient, h: dict[str, dict[str, str]], rt: Runtime
) -> None:
    for role in ("viewer", "security", "maintenance"):
        assert client.get("/api/v1/audit", headers=h[role]).status_code == 403
    scoped = create_token(rt.engine, "hq-admin", "admin", sites=["hq"])
    assert client.get("/api/v1/audit", headers=bearer(scoped)).status_code == 403

    def loc(**query: str) -> list[str]:
        r = client.get("/api/v1/audit", params=query, headers=h["admin"])
        assert r.status_code == 422, r.text
        return [".".join(str(p) for p in e["loc"]) for e in r.json()["detail"]]

    assert loc(**{"from": "2025-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}) == ["query.from"]
    assert loc(**{"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}) == ["query.from"]
    assert loc(**{"from": "yesterday"}) == ["query.from"]
    assert loc(limit="501") == ["query.limit"]
    fine = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert client.get("/api/v1/audit", params=fine, headers=h["admin"]).status_code == 200
