"""A technician working an alert's linked ticket may comment on the alert, nothing more (17.10)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.runtime import Runtime
from api.tokens import create_token
from tests.api.conftest import bearer, open_ticket, raise_alert


def _linked(rt: Runtime) -> tuple[int, int]:
    alert = raise_alert(rt)
    ticket = open_ticket(rt)
    with rt.engine.begin() as conn:  # as a rule's linked_ticket would leave them
        from rules.incidents import rows

        rows.update_incident(conn, alert, linked_incident_id=ticket)
        rows.update_incident(conn, ticket, linked_incident_id=alert)
    return alert, ticket


def test_the_technician_on_the_linked_ticket_comments_on_the_alert_but_cannot_move_it(
    rt: Runtime, client: TestClient
) -> None:
    alert, ticket = _linked(rt)
    tech = bearer(create_token(rt.engine, "tina", "maintenance"))
    assert client.post(f"/api/v1/incidents/{ticket}/start", headers=tech).status_code == 200
    r = client.post(f"/api/v1/incidents/{alert}/comment", json={"note": "head replaced"},
                    headers=tech)
    assert r.status_code == 200, r.text
    assert r.json()["timeline"][-1]["actor"] == "tina"
    assert r.json()["timeline"][-1]["note"] == "head replaced"
    assert client.post(f"/api/v1/incidents/{alert}/acknowledge", headers=tech).status_code == 403
    assert client.post(f"/api/v1/incidents/{alert}/resolve", headers=tech).status_code == 403


def test_a_technician_not_on_the_linked_ticket_may_not_comment_on_the_alert(
    rt: Runtime, client: TestClient
) -> None:
    alert, ticket = _linked(rt)
    other = bearer(create_token(rt.engine, "otto", "maintenance"))
    client.post(f"/api/v1/incidents/{ticket}/assign", json={"assignee": "tina"},
                headers=other)
    r = client.post(f"/api/v1/incidents/{alert}/comment", json={"note": "x"}, headers=other)
    assert r.status_code == 403
    unlinked = raise_alert(rt)
    r = client.post(f"/api/v1/incidents/{unlinked}/comment", json={"note": "x"}, headers=other)
    assert r.status_code == 403
