"""Timeline entries written through the API keep the acting token's id, so two successive
tokens under one reused name stay apart in an incident's history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.runtime import Runtime
from api.tokens import create_token, revoke_token
from rules.db.schema import api_tokens
from tests.api.conftest import bearer, raise_alert


def _token_id(rt: Runtime, name: str) -> int:
    """The row id of the live token called `name`."""
    c = api_tokens.c
    with rt.engine.connect() as conn:
        query = sa.select(c.id).where(c.name == name, c.revoked_at.is_(None))
        return int(conn.execute(query).scalar_one())


def _entries(client: TestClient, token: str, incident_id: int, action: str) -> list[Any]:
    r = client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(token))
    assert r.status_code == 200
    return [e for e in r.json()["timeline"] if e["action"] == action]


def test_two_successive_alice_tokens_leave_different_token_ids_in_a_timeline(
    rt: Runtime, client: TestClient
) -> None:
    alert = raise_alert(rt)
    first = create_token(rt.engine, "alice", "security")
    first_id = _token_id(rt, "alice")
    r = client.post(f"/api/v1/incidents/{alert}/comment", headers=bearer(first),
                    json={"note": "on my way"})
    assert r.status_code == 200
    assert revoke_token(rt.engine, "alice") is True
    second = create_token(rt.engine, "alice", "security")
    second_id = _token_id(rt, "alice")
    r = client.post(f"/api/v1/incidents/{alert}/acknowledge", headers=bearer(second), json={})
    assert r.status_code == 200

    timeline = client.get(f"/api/v1/incidents/{alert}", headers=bearer(second)).json()["timeline"]
    by_action = {e["action"]: e for e in timeline}
    assert by_action["commented"]["actor"] == by_action["acknowledged"]["actor"] == "alice"
    assert by_action["commented"]["actor_token_id"] == first_id
    assert by_action["acknowledged"]["actor_token_id"] == second_id
    assert first_id != second_id
    assert by_action["opened"]["actor_token_id"] is None  # the rule opened it


def test_a_ticket_opened_by_hand_keeps_its_opener_token_id(
    rt: Runtime, client: TestClient
) -> None:
    token = create_token(rt.engine, "alice", "maintenance")
    r = client.post("/api/v1/tickets", headers=bearer(token),
                    json={"title": "Broken chair", "site": "hq"})
    assert r.status_code == 201
    [opened] = _entries(client, token, r.json()["id"], "opened")
    assert opened["actor"] == "alice"
    assert opened["actor_token_id"] == _token_id(rt, "alice")
