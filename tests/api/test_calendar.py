"""The maintenance calendar: iCalendar of upcoming preventive work and open tickets' deadlines,
readable with a bearer token or a revocable calendar link."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import icalendar
from fastapi.testclient import TestClient

from api.calendar_tokens import revoke_calendar_tokens
from api.cli import main
from api.runtime import Runtime
from rules.maintenance.config import parse_schedules
from tests.api.conftest import bearer, open_ticket
from tests.servers import missing

SCHEDULES = """
schedules:
  - id: detector-monthly
    title: Monthly detector check
    description: Test each detector with test gas.
    cron: "0 8 1 * *"
    timezone: Asia/Taipei
    per: zone
    device_kinds: [smoke_detector]
  - id: ahu-meter
    title: AHU service
    meter: {metric: runtime_hours, every: 2000}
    device_kinds: [air_handler]
"""
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()


def _events(body: bytes) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return [c for c in cal.walk("VEVENT")]


def test_the_calendar_lists_each_scheduled_visit_in_the_schedules_time_zone_with_stable_uids(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    rt.schedules = parse_schedules(SCHEDULES)
    rt.clock = lambda: NOW
    r = client.get("/api/v1/schedules.ics?days=40", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    events = _events(r.content)
    starts = [e.decoded("dtstart") for e in events]
    # 08:00 in Taipei on the 1st is 00:00 UTC; Dec 1 and Jan 1 fall inside 40 days, Feb 1 not.
    assert [s.isoformat() for s in starts] == ["2026-12-01T00:00:00+00:00",
                                               "2027-01-01T00:00:00+00:00"]
    assert str(events[0]["summary"]) == "Monthly detector check — hall-a"
    assert str(events[0]["location"]) == "hq · hall-a"
    again = _events(client.get("/api/v1/schedules.ics?days=40",
                               headers=bearer(tokens["viewer"])).content)
    assert [str(e["uid"]) for e in again] == [str(e["uid"]) for e in events]


def test_an_open_ticket_appears_at_its_resolve_by_deadline_and_leaves_when_resolved(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    ticket_id = open_ticket(rt, title="Leak in hall A", priority="P2")
    ticket = rt.incidents.get(ticket_id)
    events = _events(client.get("/api/v1/schedules.ics", headers=bearer(tokens["viewer"])).content)
    mine = [e for e in events if str(e["uid"]) == f"ticket-{ticket_id}@sitewatch"]
    assert ticket.resolve_by is not None and len(mine) == 1
    assert mine[0].decoded("dtstart") == ticket.resolve_by.replace(microsecond=0)
    assert str(mine[0]["summary"]) == "[P2] Leak in hall A"
    rt.incidents.transition(ticket_id, "cancel", actor="admin", note="duplicate")
    events = _events(client.get("/api/v1/schedules.ics", headers=bearer(tokens["viewer"])).content)
    assert all(str(e["uid"]) != f"ticket-{ticket_id}@sitewatch" for e in events)


def test_a_calendar_link_reads_the_calendar_without_a_header_until_it_is_revoked(
    rt: Runtime, client: TestClient, tokens: dict[str, str]
) -> None:
    rt.schedules = parse_schedules(SCHEDULES)
    made = client.post("/api/v1/calendar-links", json={"name": "alice phone"},
                       headers=bearer(tokens["maintenance"]))
    assert made.status_code == 201
    path = made.json()["path"]
    assert client.get(path).status_code == 200
    assert revoke_calendar_tokens(rt.engine, "alice phone") == 1
    assert client.get(path).status_code == 401


def test_the_calendar_refuses_no_token_a_wrong_link_a_viewer_making_links_and_long_ranges(
    client: TestClient, tokens: dict[str, str]
) -> None:
    assert client.get("/api/v1/schedules.ics").status_code == 401
    assert client.get("/api/v1/schedules.ics?calendar_token=swcal_nope").status_code == 401
    assert client.get("/api/v1/schedules.ics?calendar_token=" + tokens["admin"]).status_code == 401
    assert client.post("/api/v1/calendar-links", json={"name": "x"},
                       headers=bearer(tokens["viewer"])).status_code == 403
    r = client.get("/api/v1/schedules.ics?days=400", headers=bearer(tokens["viewer"]))
    assert r.status_code == 422 and "days" in r.text


def test_the_cli_makes_lists_and_revokes_calendar_links(
    tmp_path: object, monkeypatch: object, capsys: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("SITEWATCH_DATA_DIR", str(tmp_path))
    assert main(["calendar", "create", "bob"]) == 0
    assert main(["calendar", "list"]) == 0
    assert main(["calendar", "revoke", "bob"]) == 0
    assert main(["calendar", "revoke", "bob"]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "schedules.ics?calendar_token=swcal_" in out and "bob" in out and "revoked" in out


KHAL_CONFIG = """[calendars]
[[maintenance]]
path = {path}
type = calendar
[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
default_timezone = UTC
local_timezone = UTC
[default]
default_calendar = maintenance
"""


def test_a_real_calendar_client_imports_the_calendar_and_lists_the_visits(
    rt: Runtime, client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    khal = shutil.which("khal")
    if khal is None:
        missing("khal (Debian package khal, a terminal calendar client)")
    assert khal is not None
    rt.schedules = parse_schedules(SCHEDULES)
    rt.clock = lambda: NOW
    ics = tmp_path / "sitewatch.ics"
    ics.write_bytes(client.get("/api/v1/schedules.ics?days=40",
                               headers=bearer(tokens["viewer"])).content)
    (tmp_path / "cal").mkdir()
    conf = tmp_path / "khal.conf"
    conf.write_text(KHAL_CONFIG.format(path=tmp_path / "cal"))
    subprocess.run([khal, "-c", str(conf), "import", "--batch", str(ics)], check=True,
                   capture_output=True, timeout=60)
    listed = subprocess.run([khal, "-c", str(conf), "list", "2026-11-30", "45d"], check=True,
                            capture_output=True, text=True, timeout=60).stdout
    assert "2026-12-01" in listed and "2027-01-01" in listed
    assert listed.count("Monthly detector check — hall-a") == 2
