"""Ticket checklists over HTTP (SPEC §8.4): items given by hand, answered, shown with the
ticket and on its timeline; resolve waits for every answer; one follow-up per failed item."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from rules.audit import log as audit
from tests.api.conftest import bearer

ITEMS = ["Extinguishers in place", "Gauges in the green", "Call points tested"]


@pytest.fixture
def tech(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["maintenance"])


def _open(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/tickets", json={"title": "Monthly inspection", "site": "hq",
                                             "checklist": ITEMS, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _answer(client: TestClient, headers: dict[str, str], ticket: int, item: int,
            **body: Any) -> Any:
    return client.post(f"/api/v1/incidents/{ticket}/checklist/{item}", json=body,
                       headers=headers)


def test_a_hand_opened_checklist_is_answered_on_the_timeline_and_gates_resolve(
    rt: Runtime, client: TestClient, tech: dict[str, str]
) -> None:
    opened = _open(client, tech)
    assert [(i["position"], i["text"], i["result"]) for i in opened["checklist"]] == [
        (1, ITEMS[0], None), (2, ITEMS[1], None), (3, ITEMS[2], None)]
    ticket = opened["id"]
    r = _answer(client, tech, ticket, 2, result="done", note="all green")
    assert r.status_code == 200, r.text
    item = r.json()["checklist"][1]
    assert (item["result"], item["note"], item["answered_by"]) == (
        "done", "all green", "maintenance-user")
    assert item["answered_at"] is not None
    refused = client.post(f"/api/v1/incidents/{ticket}/resolve", json={}, headers=tech)
    assert refused.status_code == 409
    assert "2 checklist item(s) unanswered: 1. Extinguishers in place; 3. Call points tested" in (
        refused.json()["detail"])
    assert client.get(f"/api/v1/incidents/{ticket}", headers=tech).json()["state"] == "open"
    _answer(client, tech, ticket, 1, result="n/a")
    _answer(client, tech, ticket, 3, result="done")
    r = client.post(f"/api/v1/incidents/{ticket}/resolve", json={}, headers=tech)
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    checked = [e for e in r.json()["timeline"] if e["action"] == "checked"]
    assert [e["note"] for e in checked] == [
        "item 2 done: Gauges in the green — all green",
        "item 1 n/a: Extinguishers in place", "item 3 done: Call points tested"]
    assert {e["actor"] for e in checked} == {"maintenance-user"}
    found, _ = audit.entries(rt.engine, audit.Filters(action="incident.check"))
    audited = [(e.action, e.target, e.detail["item"], e.detail["result"]) for e in found]
    assert sorted(audited) == [("incident.check", f"incident:{ticket}", n, r)
                               for n, r in ((1, "n/a"), (2, "done"), (3, "done"))]
    late = _answer(client, tech, ticket, 2, result="failed")
    assert late.status_code == 409 and late.json()["state"] == "resolved"


def test_a_failed_item_opens_one_linked_follow_up_even_when_posted_twice(
    rt: Runtime, client: TestClient, tech: dict[str, str]
) -> None:
    opened = _open(client, tech, site="annex", zone="roof", device_id="ahu-1", priority="P2")
    ticket = opened["id"]
    answers = [_answer(client, tech, ticket, 3, result="failed", note="MCP 2 did not alarm",
                       follow_up=True) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    follow_up = answers[0].json()["checklist"][2]["follow_up_incident_id"]
    assert answers[1].json()["checklist"][2]["follow_up_incident_id"] == follow_up
    _, total = rt.incidents.list(kind="ticket")
    assert total == 2
    new = client.get(f"/api/v1/incidents/{follow_up}", headers=tech).json()
    assert new["title"] == f"Follow-up of #{ticket}: Call points tested"
    assert (new["site"], new["zone"], new["device_id"], new["department"], new["priority"],
            new["linked_incident_id"], new["state"]) == (
        "annex", "roof", "ahu-1", "maintenance", "P2", ticket, "open")
    assert "MCP 2 did not alarm" in new["description"]


def test_bad_answers_are_422_naming_the_field_and_unknown_items_404(
    client: TestClient, tokens: dict[str, str], tech: dict[str, str]
) -> None:
    ticket = _open(client, tech)["id"]

    def field(r: Any) -> str:
        assert r.status_code == 422, r.text
        return str(r.json()["detail"][0]["loc"][-1])

    assert field(_answer(client, tech, ticket, 1, result="ok")) == "result"
    assert field(_answer(client, tech, ticket, 1, result="done", follow_up=True)) == "follow_up"
    assert field(_answer(client, tech, ticket, 1, result="done", extra=1)) == "extra"
    assert field(_answer(client, tech, ticket, 0, result="done")) == "item"
    missing = _answer(client, tech, ticket, 4, result="done")
    assert missing.status_code == 404 and "has items 1 to 3" in missing.json()["detail"]
    assert _answer(client, tech, 999999, 1, result="done").status_code == 404
    for role in ("viewer", "security"):
        assert _answer(client, bearer(tokens[role]), ticket, 1, result="done").status_code == 403
    for bad in ([""], ["   "], ["line\nbreak"], ["x" * 501], ["item"] * 51):
        r = client.post("/api/v1/tickets", json={"title": "T", "checklist": bad}, headers=tech)
        assert r.status_code == 422 and "checklist" in r.json()["detail"][0]["loc"], (bad, r.text)
    untouched = client.get(f"/api/v1/incidents/{ticket}", headers=tech).json()
    assert [i["result"] for i in untouched["checklist"]] == [None, None, None]
