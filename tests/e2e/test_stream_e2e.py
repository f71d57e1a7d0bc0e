"""Issue 4, live stream: incidents opened by real MQTT messages reach an SSE client, resumably."""

from __future__ import annotations

import httpx

from api.service import Service
from tests.api.conftest import bearer
from tests.api.test_stream import SseReader, attached, open_stream
from tests.e2e.conftest import ApiServer
from tests.e2e.helpers import Site, poll


def test_a_stream_client_sees_an_alert_from_mqtt_and_resumes_with_exactly_the_missed_changes(
    service: Service, api: ApiServer, site: Site
) -> None:
    guard = api.token("guard-ana", "security")
    with httpx.Client(timeout=5) as http:
        with open_stream(http, api.url, guard) as r:
            assert r.status_code == 200
            reader = SseReader(r)
            attached(reader)
            site.event("fp-01", "fire_alarm", zones=["plant"])
            first = reader.next_event()
        assert first.event == "opened"
        incident = first.data["incident"]
        assert (incident["rule_id"], incident["device_id"]) == ("fire_alarm", "fp-01")
        assert (incident["severity"], incident["state"]) == ("critical", "active")
        assert incident["runbook"]
        alert_id = incident["id"]

        # Disconnected: a repeat, a new alert and an acknowledgement happen unseen.
        site.event("fp-01", "fire_alarm", zones=["plant"])
        site.event("door-08", "door_forced_open", reader="R2")
        poll(lambda: len(service.incidents.changes_since(first.id)) >= 2, 5, "two changes")
        ack = http.post(f"{api.url}/api/v1/incidents/{alert_id}/acknowledge",
                        json={"note": "on my way"}, headers=bearer(guard))
        assert ack.status_code == 200
        missed = service.incidents.changes_since(first.id)
        assert [e.action for e in missed] == ["repeated", "opened", "acknowledged"]

        with open_stream(http, api.url, guard, last_event_id=first.id) as r:
            reader = SseReader(r)
            replayed = [reader.next_event() for _ in missed]
            assert [e.id for e in replayed] == [e.id for e in missed]
            assert [e.event for e in replayed] == ["repeated", "opened", "acknowledged"]
            assert replayed[1].data["incident"]["rule_id"] == "door_forced"
            assert replayed[2].data["entry"]["actor"] == "guard-ana"
            attached(reader)  # the replay is over: the next event must be a live one
            site.event("door-08", "door_forced_open", reader="R2")
            live = reader.next_event()
            assert live.id > missed[-1].id
            assert (live.event, live.data["incident"]["rule_id"]) == ("repeated", "door_forced")
