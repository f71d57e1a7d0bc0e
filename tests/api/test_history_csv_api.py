"""GET /devices/{id}/events, paged and bounded; format=csv on telemetry and incidents."""

from __future__ import annotations

import csv
import io
import time

from fastapi.testclient import TestClient

from api.runtime import Runtime
from devices.reading import Reading
from tests.api.conftest import bearer, open_ticket, raise_alert


def _badges(rt: Runtime, t0: float, n: int) -> None:
    rt.store.write([
        Reading("hq", "door-1", "event", t0 + i, t0 + i, seq=i, kind="door", zone="reception",
                event="access_denied" if i % 4 == 0 else "access_granted",
                data={"badge": f"B{i}"})
        for i in range(n)
    ])


def test_who_badged_at_a_door_is_listed_oldest_first_filtered_and_paged(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    t0 = time.time() - 3600
    _badges(rt, t0, 12)
    h = bearer(tokens["viewer"])
    page = client.get("/api/v1/devices/door-1/events", headers=h,
                      params={"start": t0, "limit": 5}).json()
    assert [e["data"]["badge"] for e in page["items"]] == ["B0", "B1", "B2", "B3", "B4"]
    assert page["next_offset"] == 5
    last = client.get("/api/v1/devices/door-1/events", headers=h,
                      params={"start": t0, "limit": 5, "offset": 10}).json()
    assert [e["seq"] for e in last["items"]] == [10, 11] and last["next_offset"] is None
    denied = client.get("/api/v1/devices/door-1/events", headers=h,
                        params={"start": t0, "event": "access_denied"}).json()
    assert [e["seq"] for e in denied["items"]] == [0, 4, 8]
    text = client.get("/api/v1/devices/door-1/events", headers=h,
                      params={"start": t0, "event": "access_denied", "format": "csv"}).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["ts", "event", "data", "seq"] and len(rows) == 4
    assert rows[1][1:] == ["access_denied", '{"badge": "B0"}', "0"]


def test_an_events_range_beyond_the_limit_or_backwards_is_422_naming_the_field(
    client: TestClient, tokens: dict[str, str]
) -> None:
    h = bearer(tokens["viewer"])
    now = time.time()
    long = client.get("/api/v1/devices/door-1/events", headers=h,
                      params={"start": now - 40 * 86400, "end": now})
    assert long.status_code == 422 and long.json()["detail"][0]["loc"] == ["query", "start"]
    back = client.get("/api/v1/devices/door-1/events", headers=h,
                      params={"start": now, "end": now - 10})
    assert back.status_code == 422 and back.json()["detail"][0]["loc"] == ["query", "end"]
    unknown = client.get("/api/v1/devices/nobody/events", headers=h)
    assert unknown.status_code == 404
    assert client.get("/api/v1/devices/door-1/events").status_code == 401


def test_telemetry_history_comes_as_csv(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    t0 = time.time() - 600
    rt.store.write([Reading("hq", "zs-fast", "telemetry", t0 + i, t0 + i, kind="zone_sensor",
                            zone="lab", metrics={"temperature_c": 20.0 + i}) for i in range(5)])
    r = client.get("/api/v1/devices/zs-fast/telemetry", headers=bearer(tokens["viewer"]),
                   params={"metric": "temperature_c", "start": t0, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["ts", "temperature_c"]
    assert [float(v) for _, v in rows[1:]] == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert rows[1][0].endswith("Z")


def test_the_incident_list_comes_as_csv_with_every_match_and_filters_kept(
    client: TestClient, tokens: dict[str, str], rt: Runtime
) -> None:
    alerts = [raise_alert(rt) for _ in range(3)]
    open_ticket(rt, title="=HYPERLINK(\"http://x\")")
    r = client.get("/api/v1/incidents", headers=bearer(tokens["viewer"]),
                   params={"format": "csv", "kind": "alert"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(int(x["id"]) for x in rows) == sorted(alerts)
    assert {x["rule_id"] for x in rows} == {"fire_alarm"}
    every = client.get("/api/v1/incidents", headers=bearer(tokens["viewer"]),
                       params={"format": "csv"}).text
    tickets = [x for x in csv.DictReader(io.StringIO(every)) if x["kind"] == "ticket"]
    assert tickets[0]["title"].startswith("'=")  # never run as a spreadsheet formula
