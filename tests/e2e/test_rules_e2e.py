"""Issue 3 through the real broker: device messages become what the built-in rule pack says."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.service import Service
from rules.db.rule_state import SqlStateStore
from rules.engine.parts import AlertSpec
from tests.e2e.conftest import Services
from tests.e2e.helpers import Site, evaluated, incidents_of, one_incident, poll, short_hold_pack

FILTER_HOLD_S = 2.0  # the pack holds 5 min; the behaviour under test is the same
ALERT_BOUND_S = 15.0  # how long an incident may take to appear on a loaded 2-core machine


@pytest.fixture
def service(services: Services, tmp_path: Path) -> Service:
    """The built-in pack with a short filter hold, on the built-in sample site."""
    rules = short_hold_pack(tmp_path / "rules.yaml", filter_clogged=f"{FILTER_HOLD_S:g}s")
    return services.start(rules=rules)


def runbook_of(service: Service, rule_id: str) -> str:
    """The runbook the pack gives a rule's alert."""
    rule = service.pack.get(rule_id)
    assert rule is not None and isinstance(rule.raises, AlertSpec)
    assert rule.raises.runbook.strip()
    return rule.raises.runbook


def test_a_fire_alarm_from_the_panel_is_a_critical_alert_with_its_runbook(
    service: Service, site: Site
) -> None:
    # SPEC's "within 1 s" is a latency figure, measured on a quiet machine by
    # `python -m bench.run --only latency` (BENCHMARKS.md); a shared 2-core machine running the
    # suite cannot promise it, so the test polls with a bound that holds under load.
    site.event("fp-01", "fire_alarm", zones=["plant"])
    alert = poll(lambda: one_incident(service, "fire_alarm", "fp-01"), ALERT_BOUND_S, "fire alert")
    assert (alert.kind, alert.severity, alert.department) == ("alert", "critical", "security")
    assert (alert.state, alert.latching, alert.priority) == ("active", True, None)
    assert alert.runbook == runbook_of(service, "fire_alarm")
    assert "evacuation" in alert.runbook
    assert (alert.site, alert.zone, alert.opened_by) == ("hq", "plant", "rule:fire_alarm")
    assert alert.next_escalation_at == alert.opened_at + timedelta(minutes=5)
    (entry,) = service.incidents.timeline(alert.id)
    assert (entry.action, entry.from_state, entry.to_state) == ("opened", None, "active")


def test_twenty_fire_alarms_make_one_incident_with_twenty_occurrences(
    service: Service, site: Site
) -> None:
    for _ in range(20):
        site.event("fp-01", "fire_alarm", zones=["plant"])

    def counted() -> int | None:
        alert = one_incident(service, "fire_alarm", "fp-01")
        return alert.occurrences if alert and alert.occurrences == 20 else None

    poll(counted, 10, "alert with 20 occurrences")
    evaluated(service, 20)
    (alert,) = incidents_of(service, "fire_alarm", "fp-01")
    assert alert.occurrences == 20 and alert.state == "active"
    actions = [e.action for e in service.incidents.timeline(alert.id)]
    assert actions == ["opened"] + ["repeated"] * 19


def test_a_forced_door_is_a_critical_alert_with_the_intrusion_plan(
    service: Service, site: Site
) -> None:
    site.event("door-08", "door_forced_open", reader="R2")
    alert = poll(lambda: one_incident(service, "door_forced", "door-08"), 5, "forced-door alert")
    assert (alert.kind, alert.severity, alert.department) == ("alert", "critical", "security")
    assert alert.latching and alert.state == "active"
    assert alert.runbook == runbook_of(service, "door_forced")
    assert "INTRUSION" in alert.runbook
    assert alert.zone == "corridor"


def test_a_held_door_is_a_major_alert_that_resolves_itself_when_the_door_closes(
    service: Service, site: Site
) -> None:
    site.telemetry("door-01", door_open=True)
    site.event("door-01", "door_held_open", seconds=45)
    alert = poll(lambda: one_incident(service, "door_held_open", "door-01"), 5, "held-door alert")
    assert (alert.kind, alert.severity, alert.department) == ("alert", "major", "security")
    assert not alert.latching and alert.state == "active"
    assert alert.runbook == runbook_of(service, "door_held_open")

    site.telemetry("door-01", door_open=False)

    def resolved() -> bool:
        current = one_incident(service, "door_held_open", "door-01")
        return current is not None and current.state == "resolved"

    poll(resolved, 5, "held-door alert resolved")
    last = service.incidents.timeline(alert.id)[-1]
    assert (last.action, last.actor, last.to_state) == (
        "auto_resolved", "rule:door_held_open", "resolved"
    )


def test_five_access_denials_within_two_minutes_at_one_door_raise_a_major_alert(
    service: Service, site: Site
) -> None:
    for _ in range(4):
        site.event("door-03", "access_denied", badge="0042")
    for _ in range(4):  # another door's denials never add to this door's count
        site.event("door-04", "access_denied", badge="0042")
    evaluated(service, 8)
    assert incidents_of(service, "access_denied_burst", "door-03") == []
    assert incidents_of(service, "access_denied_burst", "door-04") == []

    site.event("door-03", "access_denied", badge="0042")
    alert = poll(
        lambda: one_incident(service, "access_denied_burst", "door-03"), 5, "access-denied alert"
    )
    assert (alert.kind, alert.severity, alert.department) == ("alert", "major", "security")
    assert alert.latching and alert.state == "active"
    assert alert.runbook == runbook_of(service, "access_denied_burst")
    assert incidents_of(service, "access_denied_burst", "door-04") == []


def test_a_clogged_filter_held_past_the_rule_hold_is_a_p4_maintenance_ticket_with_sla_deadlines(
    service: Service, site: Site
) -> None:
    site.telemetry("ahu-02", filter_dp_pa=310.0, fan_running=True)
    site.telemetry("ahu-02", filter_dp_pa=305.0, fan_running=True)
    evaluated(service, 2)
    pending = SqlStateStore(service.engine).load_all()[("filter_clogged", "ahu-02")]
    assert pending.phase == "pending"
    assert incidents_of(service, "filter_clogged", "ahu-02") == [], "opened before the hold"

    ticket = poll(lambda: one_incident(service, "filter_clogged", "ahu-02"), ALERT_BOUND_S,
                  "filter ticket")
    opened = ticket.opened_at.timestamp()
    assert opened >= pending.since + FILTER_HOLD_S, "opened before its hold was over"
    assert (ticket.kind, ticket.priority, ticket.department) == ("ticket", "P4", "maintenance")
    assert (ticket.state, ticket.severity, ticket.auto_resolve) == ("open", None, False)
    assert ticket.respond_by == ticket.opened_at + timedelta(days=1)
    assert ticket.resolve_by == ticket.opened_at + timedelta(days=14)
    assert ticket.opened_by == "rule:filter_clogged"

    site.telemetry("ahu-02", filter_dp_pa=150.0, fan_running=True)  # a new filter
    evaluated(service, 3)
    (still,) = incidents_of(service, "filter_clogged", "ahu-02")
    assert still.state == "open", "a clogged-filter ticket is closed by a person, not the data"
