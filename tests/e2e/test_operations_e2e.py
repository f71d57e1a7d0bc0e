"""Operations end to end (SPEC §8): readings through the real broker, actions through the real
API, state across a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.service import Service
from tests.api.conftest import bearer
from tests.e2e.conftest import ApiServer, Services
from tests.e2e.helpers import Site, evaluated, incidents_of, one_incident, poll
from tests.rules.test_notify import Receiver, serve_receiver
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _post(http: httpx.Client, token: str, path: str, body: Any = None) -> Any:
    r = http.post(f"/api/v1{path}", json=body, headers=bearer(token))
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_a_disabled_door_raises_nothing_and_raises_at_once_when_ended_while_still_forced(
    service: Service, api: ApiServer, site: Site
) -> None:
    guard = api.token("guard-ana", "security")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        d = _post(http, guard, "/disablements", {
            "target": {"site": "hq", "device_id": "door-07"}, "reason": "lock replaced",
            "until": _in(3600)})
        site.event("door-07", "door_forced_open", reader="R1")
        evaluated(service, 1)
        assert incidents_of(service, "door_forced", "door-07") == []
        hidden = poll(lambda: http.get(f"/api/v1/disablements/{d['id']}",
                                       headers=bearer(guard)).json()["suppressed"], 5,
                      "the suppressed signal on the disablement")
        assert [(s["rule_id"], s["device_id"]) for s in hidden] == [("door_forced", "door-07")]
        status = http.get("/api/v1/status", headers=bearer(guard)).json()
        assert status["operations"]["disabled_points"][0]["device_id"] == "door-07"
        _post(http, guard, f"/disablements/{d['id']}/end")
        alert = one_incident(service, "door_forced", "door-07")
        assert alert is not None and alert.state == "active" and alert.severity == "critical"


def test_a_zone_in_test_opens_test_alerts_and_its_report_names_the_untested_detectors(
    service: Service, api: ApiServer, site: Site
) -> None:
    guard = api.token("guard-ana", "security")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        test = _post(http, guard, "/tests", {"target": {"site": "hq", "zone": "kitchen"},
                                             "until": _in(3600), "note": "quarterly"})
        site.event("hd-01", "alarm")
        alert = poll(lambda: one_incident(service, "detector_alarm", "hd-01"), 5, "test alert")
        assert (alert.test, alert.next_escalation_at) == (True, None)
        report = http.get(f"/api/v1/tests/{test['id']}", headers=bearer(guard)).json()
        assert report["untested"] == ["hd-02", "zs-06"]
        _post(http, guard, f"/tests/{test['id']}/end")
        done = service.incidents.get(alert.id)
        assert (done.state, done.resolution_code) == ("resolved", "test")


def test_one_smoke_event_is_one_group_and_one_group_acknowledge(
    service: Service, api: ApiServer, site: Site
) -> None:
    guard = api.token("guard-ana", "security")
    site.event("sd-12", "alarm")
    site.telemetry("sd-12", smoke_obscuration_pct_per_m=6.0)
    site.event("fp-01", "fire_alarm", zones=["plant"])
    evaluated(service, 3)
    alerts = [poll(lambda r=r, d=d: one_incident(service, r, d), 5, r)  # type: ignore[misc]
              for r, d in (("detector_alarm", "sd-12"), ("smoke_obscuration", "sd-12"),
                           ("fire_alarm", "fp-01"))]
    head = min(a.id for a in alerts)
    assert {service.incidents.get(a.id).group_id for a in alerts} == {head}
    with httpx.Client(base_url=api.url, timeout=5) as http:
        shown = http.get(f"/api/v1/incidents/{head}", headers=bearer(guard)).json()
        assert len(shown["members"]) == 2
        status = http.get("/api/v1/status", headers=bearer(guard)).json()
        assert status["operations"]["alert_groups"]["groups"] == 1
        _post(http, guard, f"/incidents/{head}/acknowledge", {"group": True, "note": "on it"})
    assert {service.incidents.get(a.id).state for a in alerts} == {"acknowledged"}


def test_disablements_tests_and_shelving_survive_a_restart(services: Services,
                                                           site: Site) -> None:
    first = services.start()
    ops = first.operations
    hidden = ops.disable({"site": "hq", "device_id": "door-08"}, reason="fire exit repair",
                         until=ops.now() + timedelta(hours=1), actor="ana", role="security")
    site.event("door-02", "door_held_open")
    held = poll(lambda: one_incident(first, "door_held_open", "door-02"), 5, "held-open alert")
    ops.shelve(held.id, until=ops.now() + timedelta(seconds=3), note="propped", actor="ana")
    services.stop(first)

    second = services.start()
    site.event("door-08", "door_forced_open")
    evaluated(second, 1)
    assert incidents_of(second, "door_forced", "door-08") == []
    assert [d.id for d in second.operations.disablements(active=True)] == [hidden.id]
    assert second.operations.disablement(hidden.id)[1][0].device_id == "door-08"
    back = poll(lambda: second.incidents.get(held.id).shelved_until is None or None, 10,
                "the shelved alert back after the restart")
    assert back and second.incidents.get(held.id).state == "active"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver that accepts everything."""
    rec, server = serve_receiver(free_port(), [])
    yield rec
    server.shutdown()
    server.server_close()


def test_a_silence_stops_a_route_but_not_the_incident_and_tests_go_only_to_test_routes(
    services: Services, site: Site, receiver: Receiver, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump({"routes": [
        {"name": "guards", "channel": "webhook", "url": receiver.url, "secret": "s",
         "kinds": ["alert"], "actions": ["opened"]},
        {"name": "testlog", "channel": "webhook", "url": receiver.url + "?tests",
         "secret": "s", "kinds": ["alert"], "actions": ["opened"], "tests": True},
    ]}), "utf-8")
    service = services.start(notifications=routes)
    ops = service.operations
    until = ops.now() + timedelta(hours=1)
    ops.silence({"device_id": "door-02"}, until=until, comment="closer broken", actor="ana")
    ops.start_test({"site": "hq", "zone": "kitchen"}, until=until, note="", actor="ana")
    site.event("door-02", "door_held_open")
    site.event("hd-01", "alarm")
    site.event("door-05", "door_forced_open")
    held = poll(lambda: one_incident(service, "door_held_open", "door-02"), 5, "held alert")
    forced = poll(lambda: one_incident(service, "door_forced", "door-05"), 5, "forced alert")

    def received() -> list[tuple[str, int, bool]]:
        out = []
        for headers, body in receiver.requests:
            payload = json.loads(body)["incident"]
            out.append((headers["Idempotency-Key"].rsplit("-", 1)[-1], payload["id"],
                        payload["test"]))
        return out

    poll(lambda: len(received()) >= 3 or None, 10, "three webhooks")
    tested = one_incident(service, "detector_alarm", "hd-01")
    assert tested is not None and held.state == "active"
    assert sorted(received()) == sorted([("guards", forced.id, False),  # not the silenced one
                                         ("testlog", forced.id, False),
                                         ("testlog", tested.id, True)])
