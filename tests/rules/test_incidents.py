"""The incident service on SQLite and PostgreSQL: lifecycle, repeats, latching, links, clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.record import (
    AssigneeRequired,
    IllegalTransition,
    IncidentNotFound,
    TimelineEntry,
)
from rules.incidents.service import IncidentService
from tests.databases import DATABASES

# Production runs on PostgreSQL: every test here runs on it as well as on SQLite.
pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)

T0 = 1_795_773_600.0  # 2026-11-27 10:00:00 UTC: the fake clock starts here
MIN = 60.0

PACK_YAML = """
- id: fire-alarm
  title: Fire alarm
  description: The fire panel reports a fire alarm.
  kind: event
  select: {kinds: [fire_panel]}
  event: fire_alarm
  raises: {type: alert, severity: critical, latching: true, runbook: "Evacuate the floor."}
- id: door-held
  title: Door held open
  description: A door stays open past its limit.
  kind: event
  select: {kinds: [door]}
  event: door_held_open
  clear_when: {metric: door_open, equals: false}
  raises: {type: alert, severity: major, latching: false, runbook: "Check the door."}
- id: detector-trouble
  title: Detector trouble
  description: A smoke detector reports trouble.
  kind: event
  select: {kinds: [smoke_detector]}
  event: trouble
  raises:
    type: alert
    severity: minor
    latching: false
    linked_ticket: {priority: P2, department: maintenance, title: Service the detector}
- id: filter-clogged
  title: Filter clogged
  description: Filter pressure drop over 250 Pa.
  kind: threshold
  select: {kinds: [air_handler]}
  metric: filter_dp_pa
  above: 250
  raises: {type: ticket, priority: P4, department: maintenance}
- id: zone-hot
  title: Zone too warm
  description: Zone over 28 C for 15 min.
  kind: threshold
  select: {kinds: [zone_sensor]}
  metric: temperature_c
  above: 28
  hold: 15m
  raises: {type: ticket, priority: P3, department: environment, auto_resolve: true}
"""


def fire(rule_id: str, device_id: str = "dev-1", at: float = T0, message: str = "") -> Signal:
    """A fire signal of `rule_id` for `device_id` at `at`."""
    return Signal(rule_id, "fire", "hq", device_id, at, zone="z1", message=message or rule_id)


def clear(rule_id: str, device_id: str = "dev-1", at: float = T0) -> Signal:
    """A clear signal of `rule_id` for `device_id` at `at`."""
    return Signal(rule_id, "clear", "hq", device_id, at, zone="z1", message="cleared")


def at(seconds: float) -> datetime:
    """Unix seconds as aware UTC."""
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def svc(engine: sa.Engine) -> IncidentService:
    """The service on a migrated database with the test pack and a frozen clock."""
    return IncidentService(engine, parse_rules(PACK_YAML), clock=lambda: T0)


def only(svc: IncidentService, **filters: object) -> int:
    """The id of the single incident matching `filters` (fails otherwise)."""
    found, total = svc.list(**filters)  # type: ignore[arg-type]
    assert total == 1, found
    return found[0].id


def actions(svc: IncidentService, incident_id: int) -> list[str]:
    """The timeline actions of one incident, oldest first."""
    return [e.action for e in svc.timeline(incident_id)]


def test_fire_opens_a_critical_alert_with_its_runbook_and_the_signal_message(
    svc: IncidentService,
) -> None:
    entries = svc.apply(fire("fire-alarm", "panel-1", message="zone 3 in alarm"))
    alert = svc.get(entries[0].incident_id)
    assert (alert.kind, alert.severity, alert.state) == ("alert", "critical", "active")
    assert alert.runbook == "Evacuate the floor."
    assert alert.department == "security" and alert.latching and not alert.auto_resolve
    assert (alert.site, alert.zone, alert.device_id) == ("hq", "z1", "panel-1")
    assert alert.opened_at == at(T0) and alert.opened_at.tzinfo is not None
    assert alert.opened_by == "rule:fire-alarm" and alert.occurrences == 1
    (opened,) = svc.timeline(alert.id)
    assert (opened.action, opened.actor, opened.from_state, opened.to_state) == (
        "opened",
        "rule:fire-alarm",
        None,
        "active",
    )
    assert opened.note == "zone 3 in alarm" and opened.at == at(T0)


def test_repeat_trigger_bumps_occurrences_instead_of_opening_a_second_incident(
    svc: IncidentService,
) -> None:
    for i in range(20):
        svc.apply(fire("fire-alarm", "panel-1", at=T0 + i))
    alert_id = only(svc, device_id="panel-1")
    alert = svc.get(alert_id)
    assert alert.occurrences == 20
    assert alert.last_seen_at == at(T0 + 19) and alert.opened_at == at(T0)
    assert actions(svc, alert_id) == ["opened"] + ["repeated"] * 19
    assert svc.timeline(alert_id)[-1].note.startswith("occurrence 20")
    svc.apply(fire("fire-alarm", "panel-2"))
    assert svc.list(kind="alert")[1] == 2  # another device is another incident


def test_alert_is_acknowledged_then_resolved_with_every_change_on_its_timeline(
    svc: IncidentService,
) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    acked = svc.transition(alert_id, "acknowledge", actor="guard", note="on my way", now=T0 + 30)
    assert acked.state == "acknowledged" and acked.acknowledged_at == at(T0 + 30)
    assert acked.next_escalation_at is None
    done = svc.transition(alert_id, "resolve", actor="guard", note="false alarm", now=T0 + 90)
    assert done.state == "resolved" and done.resolved_at == at(T0 + 90)
    last = svc.timeline(alert_id)[-2:]
    assert [(e.actor, e.action, e.from_state, e.to_state, e.note) for e in last] == [
        ("guard", "acknowledged", "active", "acknowledged", "on my way"),
        ("guard", "resolved", "acknowledged", "resolved", "false alarm"),
    ]


def test_ticket_is_assigned_started_and_resolved_and_its_first_response_is_recorded(
    svc: IncidentService,
) -> None:
    ticket_id = svc.apply(fire("filter-clogged", "ahu-1"))[0].incident_id
    assigned = svc.transition(ticket_id, "assign", actor="lead", assignee="tech-a", now=T0 + 60)
    assert (assigned.state, assigned.assignee) == ("assigned", "tech-a")
    assert assigned.acknowledged_at == at(T0 + 60)
    reassigned = svc.transition(ticket_id, "assign", actor="lead", assignee="tech-b", now=T0 + 90)
    assert (reassigned.state, reassigned.assignee) == ("assigned", "tech-b")
    assert reassigned.acknowledged_at == at(T0 + 60)  # the first response stays the first
    started = svc.transition(ticket_id, "start", actor="tech-b", now=T0 + 120)
    assert started.state == "in_progress"
    done = svc.transition(ticket_id, "resolve", actor="tech-b", note="filter replaced")
    assert done.state == "resolved" and not done.is_open
    assert actions(svc, ticket_id) == ["opened", "assigned", "assigned", "started", "resolved"]
    assert svc.timeline(ticket_id)[2].note == "assigned to tech-b"


def test_starting_an_unassigned_ticket_takes_it_for_the_technician(svc: IncidentService) -> None:
    ticket_id = svc.apply(fire("filter-clogged", "ahu-1"))[0].incident_id
    started = svc.transition(ticket_id, "start", actor="tech-c", note="on it", now=T0 + 30)
    assert (started.state, started.assignee) == ("in_progress", "tech-c")
    assert started.acknowledged_at == at(T0 + 30)
    assert svc.timeline(ticket_id)[-1].note == "taken by tech-c: on it"


def test_open_ticket_can_be_cancelled_and_a_cancelled_ticket_frees_its_rule_and_device(
    svc: IncidentService,
) -> None:
    first = svc.apply(fire("filter-clogged", "ahu-1"))[0].incident_id
    cancelled = svc.transition(first, "cancel", actor="lead", note="duplicate")
    assert cancelled.state == "cancelled" and cancelled.resolved_at is not None
    second = svc.apply(fire("filter-clogged", "ahu-1", at=T0 + 5))[0].incident_id
    assert second != first and svc.get(second).state == "open"


@pytest.mark.parametrize(
    ("rule", "steps", "action", "state"),
    [
        ("filter-clogged", [], "acknowledge", "open"),
        ("fire-alarm", [], "assign", "active"),
        ("fire-alarm", [], "start", "active"),
        ("fire-alarm", [], "cancel", "active"),
        ("fire-alarm", ["acknowledge"], "acknowledge", "acknowledged"),
        ("fire-alarm", ["resolve"], "resolve", "resolved"),
        ("filter-clogged", ["start"], "start", "in_progress"),
        ("filter-clogged", ["resolve"], "cancel", "resolved"),
        ("filter-clogged", ["cancel"], "assign", "cancelled"),
    ],
)
def test_illegal_transitions_are_refused_with_the_current_state(
    svc: IncidentService, rule: str, steps: list[str], action: str, state: str
) -> None:
    incident_id = svc.apply(fire(rule))[0].incident_id
    for step in steps:
        svc.transition(incident_id, step, actor="x")  # type: ignore[arg-type]
    before = svc.timeline(incident_id)
    with pytest.raises(IllegalTransition) as caught:
        svc.transition(incident_id, action, actor="x", assignee="y")  # type: ignore[arg-type]
    assert (caught.value.incident_id, caught.value.action) == (incident_id, action)
    assert caught.value.current_state == state
    assert svc.get(incident_id).state == state and svc.timeline(incident_id) == before


def test_assign_without_an_assignee_is_refused(svc: IncidentService) -> None:
    ticket_id = svc.apply(fire("filter-clogged"))[0].incident_id
    with pytest.raises(AssigneeRequired):
        svc.transition(ticket_id, "assign", actor="lead")
    assert svc.get(ticket_id).state == "open"


def test_comment_is_recorded_in_any_state_without_moving_the_incident(
    svc: IncidentService,
) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    svc.transition(alert_id, "resolve", actor="guard")
    after = svc.transition(alert_id, "comment", actor="chief", note="drill debrief done")
    assert after.state == "resolved"
    last = svc.timeline(alert_id)[-1]
    assert (last.action, last.from_state, last.to_state, last.note) == (
        "commented",
        "resolved",
        "resolved",
        "drill debrief done",
    )


def test_unknown_incident_is_not_found_for_reads_and_actions(svc: IncidentService) -> None:
    with pytest.raises(IncidentNotFound):
        svc.get(999)
    with pytest.raises(IncidentNotFound):
        svc.timeline(999)
    with pytest.raises(IncidentNotFound):
        svc.transition(999, "comment", actor="x", note="hello")


def test_clear_leaves_a_latching_fire_alarm_active(svc: IncidentService) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    assert svc.apply(clear("fire-alarm", at=T0 + 60)) == []
    assert svc.get(alert_id).state == "active" and actions(svc, alert_id) == ["opened"]


def test_clear_resolves_a_non_latching_alert_as_the_rule(svc: IncidentService) -> None:
    alert_id = svc.apply(fire("door-held", "door-1"))[0].incident_id
    (entry,) = svc.apply(clear("door-held", "door-1", at=T0 + 45))
    assert (entry.actor, entry.action, entry.from_state, entry.to_state) == (
        "rule:door-held",
        "auto_resolved",
        "active",
        "resolved",
    )
    alert = svc.get(alert_id)
    assert alert.state == "resolved" and alert.resolved_at == at(T0 + 45)
    assert alert.next_escalation_at is None


def test_clear_resolves_an_auto_resolve_ticket_but_never_a_plain_one(
    svc: IncidentService,
) -> None:
    hot = svc.apply(fire("zone-hot", "zs-1"))[0].incident_id
    clogged = svc.apply(fire("filter-clogged", "ahu-1"))[0].incident_id
    svc.apply(clear("zone-hot", "zs-1", at=T0 + 60))
    svc.apply(clear("filter-clogged", "ahu-1", at=T0 + 60))
    assert svc.get(hot).state == "resolved"
    assert svc.get(clogged).state == "open"


def test_clear_with_nothing_open_does_nothing(svc: IncidentService) -> None:
    assert svc.apply(clear("door-held", "door-9")) == []
    assert svc.list()[1] == 0


def test_fire_after_resolution_opens_a_new_incident(svc: IncidentService) -> None:
    first = svc.apply(fire("door-held", "door-1"))[0].incident_id
    svc.apply(clear("door-held", "door-1", at=T0 + 10))
    second = svc.apply(fire("door-held", "door-1", at=T0 + 20))[0].incident_id
    assert second != first
    assert svc.get(second).occurrences == 1 and svc.get(first).state == "resolved"


def test_signal_of_an_unknown_rule_is_ignored(svc: IncidentService) -> None:
    assert svc.apply(fire("no-such-rule")) == []
    assert svc.list()[1] == 0


def test_linked_ticket_opens_once_with_its_alert_and_both_point_at_each_other(
    svc: IncidentService,
) -> None:
    entries = svc.apply(fire("detector-trouble", "sd-1", message="trouble: dirty chamber"))
    svc.apply(fire("detector-trouble", "sd-1", at=T0 + 30))
    alert_id = only(svc, kind="alert")
    ticket_id = only(svc, kind="ticket")
    alert, ticket = svc.get(alert_id), svc.get(ticket_id)
    assert alert.linked_incident_id == ticket_id and ticket.linked_incident_id == alert_id
    assert (ticket.title, ticket.priority, ticket.department) == (
        "Service the detector",
        "P2",
        "maintenance",
    )
    assert ticket.respond_by == at(T0 + 60 * MIN)
    assert alert.occurrences == 2 and ticket.occurrences == 1
    assert {(e.incident_id, e.action) for e in entries} == {
        (alert_id, "opened"),
        (alert_id, "linked"),
        (ticket_id, "opened"),
        (ticket_id, "linked"),
    }
    assert svc.timeline(ticket_id)[0].note == "trouble: dirty chamber"


def test_a_new_alert_links_to_the_ticket_still_open_from_the_previous_one(
    svc: IncidentService,
) -> None:
    svc.apply(fire("detector-trouble", "sd-1"))
    svc.apply(clear("detector-trouble", "sd-1", at=T0 + 10))
    svc.apply(fire("detector-trouble", "sd-1", at=T0 + 20))
    tickets, total = svc.list(kind="ticket")
    assert total == 1
    alerts, _ = svc.list(kind="alert")  # newest first
    assert tickets[0].linked_incident_id == alerts[0].id
    assert alerts[0].linked_incident_id == alerts[1].linked_incident_id == tickets[0].id
    assert actions(svc, tickets[0].id) == ["opened", "linked", "linked"]


@pytest.mark.parametrize(
    ("priority", "respond", "resolve"),
    [
        ("P1", timedelta(minutes=15), timedelta(hours=4)),
        ("P2", timedelta(hours=1), timedelta(hours=24)),
        ("P3", timedelta(hours=4), timedelta(days=3)),
        ("P4", timedelta(days=1), timedelta(days=14)),
    ],
)
def test_ticket_deadlines_follow_its_priority(
    svc: IncidentService, priority: str, respond: timedelta, resolve: timedelta
) -> None:
    ticket = svc.open_ticket(
        title="Lift stuck",
        description="Reception reports the lift stuck between floors",
        department="property_management",
        priority=priority,
        actor="reception",
        site="hq",
        location="Lobby lift",
        now=T0,
    )
    assert (ticket.kind, ticket.state, ticket.opened_by, ticket.rule_id) == (
        "ticket",
        "open",
        "reception",
        None,
    )
    assert ticket.respond_by == at(T0) + respond
    assert ticket.resolve_by == at(T0) + resolve
    assert ticket.location == "Lobby lift"
    assert svc.timeline(ticket.id)[0].actor == "reception"


def test_sla_breaches_are_flagged_once_per_clock(svc: IncidentService) -> None:
    ticket = svc.open_ticket(
        title="Leak",
        description="Water on the floor",
        department="maintenance",
        priority="P1",
        actor="reception",
        now=T0,
    )
    assert svc.flag_sla_breaches(now=T0 + 14 * MIN) == []
    (respond, _escalated) = svc.flag_sla_breaches(now=T0 + 15 * MIN)
    assert (respond.action, respond.actor) == ("sla_breached", "system")
    assert respond.note.startswith("respond")
    assert svc.flag_sla_breaches(now=T0 + 60 * MIN) == []
    (resolve, _escalated) = svc.flag_sla_breaches(now=T0 + 4 * 60 * MIN)
    assert resolve.note.startswith("resolve")
    assert svc.flag_sla_breaches(now=T0 + 5 * 60 * MIN) == []
    flagged = svc.get(ticket.id)
    assert flagged.respond_breached and flagged.resolve_breached
    assert actions(svc, ticket.id).count("sla_breached") == 2


def test_a_ticket_answered_in_time_never_breaches_its_respond_clock(
    svc: IncidentService,
) -> None:
    ticket_id = svc.apply(fire("filter-clogged", "ahu-1"))[0].incident_id  # P4: 1 d / 14 d
    svc.transition(ticket_id, "start", actor="tech", now=T0 + 3600)
    assert svc.flag_sla_breaches(now=T0 + 2 * 86400) == []
    assert not svc.get(ticket_id).respond_breached


def test_a_late_response_is_flagged_at_the_transition(svc: IncidentService) -> None:
    ticket_id = svc.apply(fire("zone-hot", "zs-1"))[0].incident_id  # P3: respond in 4 h
    entries_seen: list[TimelineEntry] = []
    svc.subscribe(entries_seen.extend)
    svc.transition(ticket_id, "assign", actor="lead", assignee="tech", now=T0 + 5 * 3600)
    assert [e.action for e in entries_seen] == ["assigned", "sla_breached"]
    assert svc.get(ticket_id).respond_breached
    assert svc.flag_sla_breaches(now=T0 + 6 * 3600) == []


def test_critical_alert_escalates_after_5_minutes_and_again_every_5_minutes(
    svc: IncidentService,
) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    assert svc.get(alert_id).next_escalation_at == at(T0 + 5 * MIN)
    assert svc.escalate_due(now=T0 + 4 * MIN) == []
    (first,) = svc.escalate_due(now=T0 + 5 * MIN)
    assert (first.action, first.actor, first.incident_id) == ("escalated", "system", alert_id)
    assert svc.escalate_due(now=T0 + 7 * MIN) == []
    (second,) = svc.escalate_due(now=T0 + 10 * MIN)
    alert = svc.get(alert_id)
    assert alert.escalation_level == 2
    assert alert.next_escalation_at == at(T0 + 15 * MIN)
    assert "level 2" in second.note


def test_escalation_after_an_outage_is_recorded_once_and_keeps_its_cadence(
    svc: IncidentService,
) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    assert len(svc.escalate_due(now=T0 + 23 * MIN)) == 1
    alert = svc.get(alert_id)
    assert alert.escalation_level == 1 and alert.next_escalation_at == at(T0 + 25 * MIN)


def test_acknowledged_and_minor_alerts_never_escalate(svc: IncidentService) -> None:
    acked = svc.apply(fire("fire-alarm"))[0].incident_id
    svc.transition(acked, "acknowledge", actor="guard", now=T0 + 60)
    minor = svc.apply(fire("detector-trouble", "sd-1"))[0].incident_id
    assert svc.get(minor).next_escalation_at is None
    assert svc.escalate_due(now=T0 + 60 * MIN) == []
    major = svc.apply(fire("door-held", "door-1"))[0].incident_id
    (entry,) = svc.escalate_due(now=T0 + 15 * MIN)
    assert entry.incident_id == major
    assert svc.get(acked).escalation_level == 0


def test_list_filters_and_pages_newest_first(svc: IncidentService) -> None:
    for i in range(7):
        svc.apply(fire("filter-clogged", f"ahu-{i}", at=T0 + i))
    svc.apply(fire("fire-alarm", "panel-1", at=T0 + 100))
    page, total = svc.list(kind="ticket", limit=3, offset=0)
    assert total == 7 and [t.device_id for t in page] == ["ahu-6", "ahu-5", "ahu-4"]
    page, total = svc.list(kind="ticket", limit=3, offset=6)
    assert total == 7 and [t.device_id for t in page] == ["ahu-0"]
    assert [i.device_id for i in svc.list(severity="critical")[0]] == ["panel-1"]
    assert svc.list(priority="P4", device_id="ahu-3")[1] == 1
    assert svc.list(department="security")[1] == 1 and svc.list(site="elsewhere")[1] == 0
    svc.transition(only(svc, device_id="ahu-2"), "resolve", actor="tech")
    assert svc.list(open_only=True)[1] == 7
    assert svc.list(state="resolved")[0][0].device_id == "ahu-2"


def test_deadline_order_puts_the_soonest_resolve_by_first(svc: IncidentService) -> None:
    for priority, title in (("P4", "later"), ("P1", "first"), ("P3", "third"), ("P2", "second")):
        svc.open_ticket(
            title=title, description="", department="maintenance", priority=priority, actor="x"
        )
    svc.apply(fire("fire-alarm"))
    ordered, _ = svc.list(kind="ticket", open_only=True, order="deadline")
    assert [t.title for t in ordered] == ["first", "second", "third", "later"]
    everything, _ = svc.list(order="deadline")
    assert everything[-1].kind == "alert"  # no deadline: after every dated one


def test_changes_since_returns_the_entries_after_an_id_in_order(svc: IncidentService) -> None:
    first = svc.apply(fire("fire-alarm"))
    later = svc.apply(fire("filter-clogged", "ahu-1")) + svc.apply(fire("fire-alarm", at=T0 + 1))
    changes = svc.changes_since(first[-1].id)
    assert changes == later
    assert [e.id for e in svc.changes_since(0, limit=2)] == [first[0].id, later[0].id]


def test_subscribers_get_new_entries_after_commit_even_when_another_one_fails(
    svc: IncidentService,
) -> None:
    seen: list[list[TimelineEntry]] = []

    def broken(entries: list[TimelineEntry]) -> None:
        raise RuntimeError("listener bug")

    svc.subscribe(broken)
    svc.subscribe(seen.append)
    entries = svc.apply(fire("fire-alarm"))
    assert seen == [entries]
    assert svc.changes_since(0) == entries  # committed before the listeners ran
    svc.apply(clear("fire-alarm"))  # latching: nothing written, nobody called
    assert len(seen) == 1


def test_summary_counts_open_alerts_tickets_and_breaches(svc: IncidentService) -> None:
    svc.apply(fire("fire-alarm", "panel-1"))
    acked = svc.apply(fire("fire-alarm", "panel-2"))[0].incident_id
    svc.transition(acked, "acknowledge", actor="guard")
    svc.apply(fire("door-held", "door-1"))
    svc.apply(fire("filter-clogged", "ahu-1"))  # P4
    svc.apply(fire("zone-hot", "zs-1"))  # P3: respond within 4 h
    summary = svc.summary(now=T0 + 5 * 3600)
    assert summary == {
        "active_alerts": {"critical": 2, "major": 1, "minor": 0},
        "unacknowledged_alerts": 2,
        "open_tickets": {"P1": 0, "P2": 0, "P3": 1, "P4": 1},
        "sla_breaches": 1,
    }


def test_timestamps_are_stored_and_returned_as_aware_utc(svc: IncidentService) -> None:
    alert_id = svc.apply(fire("fire-alarm"))[0].incident_id
    with svc._engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT opened_at FROM incidents")).scalar_one()
    assert str(raw).startswith("2026-11-27 10:00:00")  # UTC wall time on disk
    entry = svc.timeline(alert_id)[0]
    assert entry.at.utcoffset() == timedelta(0) and entry.at == at(T0)
