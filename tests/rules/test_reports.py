"""Reports: counts, MTTA, MTTR and SLA compliance on a hand-built set of incidents."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.reports import build_report, report_csv
from rules.incidents.service import IncidentService
from tests.databases import DATABASES
from tests.rules.packs import FIRE_ALARM

# Production runs on PostgreSQL: every test here runs on it as well as on SQLite.
pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC).timestamp()
H = 3600.0
PACK = FIRE_ALARM + """
- id: door-forced
  title: Door forced
  description: Forced.
  kind: event
  select: {kinds: [door]}
  event: door_forced_open
  raises: {type: alert, severity: major, latching: true, runbook: "Send a guard."}
"""


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@pytest.fixture
def period(engine: sa.Engine) -> IncidentService:
    """Two alerts and five tickets with known times; one ticket before the period."""
    svc = IncidentService(engine, parse_rules(PACK), clock=lambda: T0)

    def ticket(priority: str, department: str = "maintenance", t: float = T0) -> int:
        return svc.open_ticket(title=f"{priority} job", description="", department=department,
                               priority=priority, actor="test", site="hq", now=t).id

    fire = svc.apply(Signal("fire-alarm", "fire", "hq", "sd-1", T0))[0].incident_id
    svc.transition(fire, "acknowledge", actor="guard", now=T0 + 60)
    svc.transition(fire, "resolve", actor="guard", now=T0 + 600)
    door = svc.apply(Signal("door-forced", "fire", "hq", "door-1", T0 + 100))[0].incident_id
    svc.transition(door, "acknowledge", actor="guard", now=T0 + 400)
    p3 = ticket("P3")  # respond 4 h, resolve 3 d: both met
    svc.transition(p3, "assign", actor="lead", assignee="tech", now=T0 + 1800)
    svc.transition(p3, "resolve", actor="tech", now=T0 + 7200)
    p1 = ticket("P1")  # respond 15 min missed (20 min), resolve 4 h met
    svc.transition(p1, "start", actor="tech", now=T0 + 1200)
    svc.transition(p1, "resolve", actor="tech", now=T0 + 3600)
    p2 = ticket("P2")  # never touched: respond-by (1 h) passed at report time, resolve not due
    cancelled = ticket("P4", department="environment")
    svc.transition(cancelled, "cancel", actor="lead", now=T0 + 10)
    ticket("P3", t=T0 - 86400)  # opened before the period: not counted
    assert p2
    return svc


def test_report_counts_by_department_kind_and_grade_within_the_period(
    engine: sa.Engine, period: IncidentService
) -> None:
    report = build_report(engine, at(T0 - H), at(T0 + 24 * H), at(T0 + 2 * H))
    assert report["by_department"] == {"environment": 1, "maintenance": 3, "security": 2}
    assert report["by_kind"] == {"alert": 2, "ticket": 4}
    assert report["by_grade"] == {"P1": 1, "P2": 1, "P3": 1, "P4": 1, "critical": 1, "major": 1}


def test_mtta_and_mttr_are_exact_means_per_department_and_overall(
    engine: sa.Engine, period: IncidentService
) -> None:
    report = build_report(engine, at(T0 - H), at(T0 + 24 * H), at(T0 + 2 * H))
    security, maintenance = report["departments"]["security"], report["departments"]["maintenance"]
    assert (security["mtta_s"], security["mttr_s"]) == ((60 + 300) / 2, 600)
    assert (maintenance["mtta_s"], maintenance["mttr_s"]) == ((1800 + 1200) / 2, (7200 + 3600) / 2)
    overall = report["overall"]
    assert overall["mtta_s"] == (60 + 300 + 1800 + 1200) / 4
    assert overall["mttr_s"] == (600 + 7200 + 3600) / 3
    environment = report["departments"]["environment"]
    assert environment["mtta_s"] is None and environment["sla_compliance_pct"] is None


def test_sla_compliance_counts_only_deadlines_that_have_come_due(
    engine: sa.Engine, period: IncidentService
) -> None:
    report = build_report(engine, at(T0 - H), at(T0 + 24 * H), at(T0 + 2 * H))
    m = report["departments"]["maintenance"]
    assert (m["respond_due"], m["respond_met"], m["respond_compliance_pct"]) == (3, 1, 33.33)
    assert (m["resolve_due"], m["resolve_met"], m["resolve_compliance_pct"]) == (2, 2, 100.0)
    assert (m["sla_due"], m["sla_met"]) == (3, 1)
    later = build_report(engine, at(T0 - H), at(T0 + 24 * H), at(T0 + 25 * H))
    assert later["departments"]["maintenance"]["resolve_due"] == 3  # the P2 is now overdue


def test_the_csv_form_has_a_row_per_department_and_an_all_row(
    engine: sa.Engine, period: IncidentService
) -> None:
    report = build_report(engine, at(T0 - H), at(T0 + 24 * H), at(T0 + 2 * H))
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [r["department"] for r in rows] == ["environment", "maintenance", "security", "all"]
    security = rows[2]
    assert (security["alerts"], security["critical"], security["major"]) == ("2", "1", "1")
    assert float(security["mtta_s"]) == 180.0 and security["sla_compliance_pct"] == ""
    assert rows[3]["incidents"] == "6"


def test_an_empty_period_reports_zeros_and_no_means(engine: sa.Engine) -> None:
    report = build_report(engine, at(T0), at(T0 + H), at(T0 + H))
    assert report["overall"]["incidents"] == 0 and report["overall"]["mtta_s"] is None
    assert report["departments"] == {}
