"""The operations endpoints (SPEC §8): roles, bad input naming its field, 404, 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from tests.api.conftest import bearer, raise_alert


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def h(tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Headers per role."""
    return {role: bearer(t) for role, t in tokens.items()}


def _loc(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    return [".".join(str(p) for p in e["loc"]) for e in r.json()["detail"]]


def test_disablement_bad_input_is_refused_naming_the_field(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    def post(**body: Any) -> Any:
        full = {"target": {"site": "hq", "device_id": "door-1"}, "reason": "lock", **body}
        return client.post("/api/v1/disablements", json=full, headers=h["admin"])

    assert _loc(post(until=_in(-60))) == ["body.until"]
    assert _loc(post(until=_in(8 * 86400))) == ["body.until"]
    assert _loc(post(until="tomorrow")) == ["body.until"]
    assert _loc(post(until=_in(60), reason="")) == ["body.reason"]
    assert _loc(post(until=_in(60), colour="red")) == ["body.colour"]
    assert post(until=_in(60), target={"site": "hq", "zone": "moon"}).status_code == 404
    made = post(until=_in(60))
    assert made.status_code == 201, made.text
    end = f"/api/v1/disablements/{made.json()['id']}/end"
    assert client.post(end, headers=h["admin"]).status_code == 200
    again = client.post(end, headers=h["admin"])
    assert again.status_code == 409 and "ended" in again.json()["detail"]
    assert client.get("/api/v1/disablements/999", headers=h["viewer"]).status_code == 404


def test_the_role_matrix_decides_who_disables_which_family(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    def disable(role: str, device: str) -> int:
        body = {"target": {"site": "hq" if device != "ahu-1" else "annex", "device_id": device},
                "reason": "works", "until": _in(600)}
        return client.post("/api/v1/disablements", json=body, headers=h[role]).status_code

    assert [disable(r, "door-1") for r in ("viewer", "maintenance", "security")] == [
        403, 403, 201]
    assert [disable(r, "ahu-1") for r in ("security", "maintenance", "admin")] == [403, 201, 201]
    listed = client.get("/api/v1/disablements?active=true", headers=h["viewer"]).json()
    assert [(d["device_id"], d["active"]) for d in listed] == [
        ("ahu-1", True), ("ahu-1", True), ("door-1", True)]
    status = client.get("/api/v1/status", headers=h["viewer"]).json()
    assert len(status["operations"]["disabled_points"]) == 3


def test_shelving_takes_a_major_alert_off_the_active_list_and_refuses_a_critical_one(
    rt: Runtime, client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    critical = raise_alert(rt)
    major = raise_alert(rt, "door_forced", "door-1")
    r = client.post(f"/api/v1/incidents/{critical}/shelve", json={"until": _in(60)},
                    headers=h["security"])
    assert _loc(r) == ["body.incident_id"]
    r = client.post(f"/api/v1/incidents/{major}/shelve", json={"until": _in(25 * 3600)},
                    headers=h["security"])
    assert _loc(r) == ["body.until"]
    r = client.post(f"/api/v1/incidents/{major}/shelve", json={"until": _in(600), "note": "ok"},
                    headers=h["security"])
    assert r.status_code == 201, r.text
    active = client.get("/api/v1/incidents?open=true", headers=h["viewer"]).json()["items"]
    shelved = client.get("/api/v1/incidents?shelved=true", headers=h["viewer"]).json()["items"]
    assert [i["id"] for i in active] == [critical] and [i["id"] for i in shelved] == [major]
    status = client.get("/api/v1/status", headers=h["viewer"]).json()
    assert status["alerts_active_by_severity"]["major"] == 1
    assert status["operations"]["shelved_alerts"] == 1
    end = f"/api/v1/shelvings/{r.json()['id']}/end"
    assert client.post(end, headers=h["security"]).status_code == 200
    assert client.post(end, headers=h["security"]).status_code == 409
    assert client.get("/api/v1/incidents?open=true", headers=h["viewer"]).json()["total"] == 2


def test_resolving_an_alert_needs_a_resolution_code(
    rt: Runtime, client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    alert = raise_alert(rt)
    url = f"/api/v1/incidents/{alert}/resolve"
    assert _loc(client.post(url, json={"note": "x"}, headers=h["security"])) == ["body.code"]
    assert _loc(client.post(url, json={"code": "maybe"}, headers=h["security"])) == ["body.code"]
    done = client.post(url, json={"code": "false_alarm"}, headers=h["security"])
    assert done.json()["resolution_code"] == "false_alarm"
    report = client.get("/api/v1/reports/false-alarms", headers=h["viewer"]).json()
    assert report["false_alarms"] == 1


def test_a_group_head_lists_its_members_and_one_acknowledge_takes_them_all(
    rt: Runtime, client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    first, second = raise_alert(rt, zone="hall-a"), raise_alert(rt, zone="hall-a")
    head = client.get(f"/api/v1/incidents/{first}", headers=h["viewer"]).json()
    assert head["group_id"] == first and [m["id"] for m in head["members"]] == [second]
    r = client.post(f"/api/v1/incidents/{first}/acknowledge", json={"group": True},
                    headers=h["security"])
    assert r.status_code == 200, r.text
    states = [client.get(f"/api/v1/incidents/{i}", headers=h["viewer"]).json()["state"]
              for i in (first, second)]
    assert states == ["acknowledged", "acknowledged"]
    again = client.post(f"/api/v1/incidents/{first}/acknowledge", json={"group": True},
                        headers=h["security"])
    assert again.status_code == 409


def test_a_walk_test_names_its_untested_detectors(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    body = {"target": {"site": "hq", "zone": "hall-a"}, "until": _in(3600), "note": "Q4"}
    assert client.post("/api/v1/tests", json=body, headers=h["maintenance"]).status_code == 403
    made = client.post("/api/v1/tests", json=body, headers=h["security"])
    assert made.status_code == 201, made.text
    one = client.get(f"/api/v1/tests/{made.json()['id']}", headers=h["viewer"]).json()
    assert one["untested"] == ["sd-1"] and one["created_by"] == "security-user"
    ended = client.post(f"/api/v1/tests/{one['id']}/end", headers=h["security"]).json()
    assert ended["ended_by"] == "security-user" and not ended["active"]


def test_silences_and_windows_are_made_listed_and_ended_by_their_roles(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    silence = {"matchers": {"site": "hq", "kind": "ticket"}, "until": _in(600),
               "comment": "boiler works"}
    assert client.post("/api/v1/silences", json=silence, headers=h["viewer"]).status_code == 403
    made = client.post("/api/v1/silences", json=silence, headers=h["maintenance"])
    assert made.status_code == 201, made.text
    assert _loc(client.post("/api/v1/silences", json={**silence, "matchers": {"kind": "x"}},
                            headers=h["admin"])) == ["body.matchers.kind"]
    window = {"matchers": {"site": "hq", "zone": "lab"}, "start": _in(0), "end": _in(3600),
              "note": "chiller swap"}
    assert client.post("/api/v1/maintenance-windows", json=window,
                       headers=h["security"]).status_code == 403
    w = client.post("/api/v1/maintenance-windows", json=window, headers=h["maintenance"])
    assert w.status_code == 201, w.text
    assert _loc(client.post("/api/v1/maintenance-windows", json={**window, "end": _in(-5)},
                            headers=h["admin"])) == ["body.end"]
    end = f"/api/v1/maintenance-windows/{w.json()['id']}/end"
    assert client.post(end, headers=h["maintenance"]).json()["ended_by"] == "maintenance-user"
    assert client.post(end, headers=h["maintenance"]).status_code == 409


def test_an_emergency_is_declared_with_its_plan_and_an_unknown_plan_is_404(
    client: TestClient, h: dict[str, dict[str, str]]
) -> None:
    body = {"plan": "flood", "target": {"site": "hq", "zone": "lab"}, "note": "pipe burst"}
    assert client.post("/api/v1/emergencies", json=body, headers=h["maintenance"]).status_code \
        == 403
    made = client.post("/api/v1/emergencies", json=body, headers=h["security"])
    assert made.status_code == 201, made.text
    assert (made.json()["severity"], made.json()["plan"]) == ("critical", "flood")
    assert client.post("/api/v1/emergencies", json={**body, "plan": "meteor"},
                       headers=h["security"]).status_code == 404
    listed = client.get("/api/v1/emergencies?open=true", headers=h["viewer"]).json()
    assert [e["id"] for e in listed] == [made.json()["id"]]
    end = f"/api/v1/emergencies/{made.json()['id']}/end"
    ended = client.post(end, json={"note": "pipe fixed"}, headers=h["security"]).json()
    assert (ended["state"], ended["resolution_code"]) == ("resolved", "real")
    assert client.post(end, headers=h["security"]).status_code == 409
    plans = client.get("/api/v1/plans?language=zh-Hant", headers=h["viewer"]).json()
    assert plans["flood"]["title"] == "水浸或漏水" and len(plans) == 7
