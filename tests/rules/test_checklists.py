"""Ticket checklists (SPEC §8.4) below the API: items from a rule, an alert's linked ticket
and a schedule; the resolve gate; a follow-up ticket exactly once; loading errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from devices.registry import Device, Registry
from rules.engine.loader import RuleError, load_rules, parse_rules
from rules.engine.signals import Signal
from rules.incidents.checklist_answers import Checklists
from rules.incidents.checklists import ChecklistClosed, ChecklistUnanswered, UnknownItem
from rules.incidents.service import IncidentService
from rules.maintenance.config import ScheduleConfigError, load_schedules, parse_schedules
from rules.maintenance.schedules import PreventiveMaintenance
from tests.databases import DATABASES

pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()
PACK = """
- id: filter_clogged
  kind: threshold
  title: Filter clogged
  description: Filter pressure drop too high
  select: {kinds: [air_handler]}
  metric: filter_dp_pa
  above: 250
  raises: {type: ticket, priority: P4}
  checklist: [Note the pressure drop, Replace the filters, Pressure drop near 100 Pa]
- id: fire_trouble
  kind: event
  title: Fire device in trouble
  description: A detector reports a trouble
  select: {kinds: [smoke_detector]}
  event: trouble
  raises:
    type: alert
    severity: major
    linked_ticket: {priority: P2, department: maintenance, title: Repair the detector}
  checklist: [Clean or replace the head, Test with test smoke]
"""


def _signal(rule_id: str, device: str, kind: str) -> Signal:
    return Signal(rule_id, "fire", "hq", device, T0, zone="plant", device_kind=kind)


def _texts(engine: sa.Engine, service: IncidentService, incident_id: int) -> list[str]:
    return [i.text for i in Checklists(engine, service).items(incident_id)]


def test_a_rule_ticket_and_an_alert_linked_ticket_carry_the_rule_checklist(
    engine: sa.Engine,
) -> None:
    service = IncidentService(engine, parse_rules(PACK), clock=lambda: T0)
    ticket = service.apply(_signal("filter_clogged", "ahu-1", "air_handler"))[0].incident_id
    assert _texts(engine, service, ticket) == [
        "Note the pressure drop", "Replace the filters", "Pressure drop near 100 Pa"]
    alert = service.apply(_signal("fire_trouble", "sd-1", "smoke_detector"))[0].incident_id
    linked = service.get(alert).linked_incident_id
    assert linked is not None and service.get(linked).kind == "ticket"
    assert _texts(engine, service, linked) == ["Clean or replace the head", "Test with test smoke"]
    assert _texts(engine, service, alert) == []  # the guard's alert has its runbook instead


def test_a_schedule_ticket_carries_the_schedule_inspection_items(engine: sa.Engine) -> None:
    schedules = parse_schedules("""
schedules:
  - id: detector-test
    title: Detector test
    cron: "0 8 * * *"
    per: zone
    device_kinds: [smoke_detector]
    checklist: [Test each detector with test gas, Sensitivity within its listed range]
""")
    service = IncidentService(engine, parse_rules(PACK), clock=lambda: T0)
    registry = Registry.from_devices(
        [Device(id="sd-1", kind="smoke_detector", site="hq", zone="hall")])
    pm = PreventiveMaintenance(engine, service, schedules, registry, clock=lambda: T0)
    assert pm.run_due(T0) == []  # the first sight is the baseline
    [ticket] = pm.run_due(T0 + 86400)
    assert _texts(engine, service, ticket.id) == [
        "Test each detector with test gas", "Sensitivity within its listed range"]


def test_resolving_waits_for_every_item_and_a_closed_ticket_takes_no_answer(
    engine: sa.Engine,
) -> None:
    service = IncidentService(engine, parse_rules(PACK), clock=lambda: T0)
    lists = Checklists(engine, service, clock=lambda: T0)
    ticket = service.open_ticket(title="Inspect", description="", department="maintenance",
                                 priority="P3", actor="lead", checklist=["a", "b", "c"]).id
    lists.answer(ticket, 2, result="n/a", note="", actor="tech")
    with pytest.raises(ChecklistUnanswered) as refused:
        service.transition(ticket, "resolve", actor="tech", force=True, note="done anyway")
    assert refused.value.missing == [1, 3] and "1. a; 3. c" in str(refused.value)
    with pytest.raises(UnknownItem, match="has items 1 to 3"):
        lists.answer(ticket, 4, result="done", note="", actor="tech")
    lists.answer(ticket, 1, result="done", note="", actor="tech")
    lists.answer(ticket, 3, result="failed", note="cracked", actor="tech")
    assert service.transition(ticket, "resolve", actor="tech").state == "resolved"
    with pytest.raises(ChecklistClosed):
        lists.answer(ticket, 3, result="done", note="", actor="tech")
    # cancelling needs no answers: a cancelled ticket needs no work
    other = service.open_ticket(title="Dup", description="", department="maintenance",
                                priority="P3", actor="lead", checklist=["x"]).id
    assert service.transition(other, "cancel", actor="tech").state == "cancelled"


def test_a_failed_item_opens_its_follow_up_ticket_once(engine: sa.Engine) -> None:
    service = IncidentService(engine, parse_rules(PACK), clock=lambda: T0)
    lists = Checklists(engine, service, clock=lambda: T0)
    ticket = service.open_ticket(
        title="Quarterly detector test", description="", department="maintenance",
        priority="P2", actor="lead", site="hq", zone="hall", device_id="sd-1",
        checklist=["Sensitivity within its listed range"]).id
    for _ in range(2):
        lists.answer(ticket, 1, result="failed", note="out of range", actor="tech",
                     follow_up=True)
    tickets, total = service.list(kind="ticket")
    assert total == 2
    [item] = lists.items(ticket)
    follow_up = service.get(item.follow_up_incident_id or 0)
    assert follow_up.linked_incident_id == ticket
    assert (follow_up.site, follow_up.zone, follow_up.device_id, follow_up.department,
            follow_up.priority) == ("hq", "hall", "sd-1", "maintenance", "P2")
    assert "Sensitivity within its listed range" in follow_up.title
    checked = [e for e in service.timeline(ticket) if e.action == "checked"]
    assert len(checked) == 1 and f"#{follow_up.id}" in checked[0].note


def test_the_built_in_pack_and_schedules_carry_real_items(engine: sa.Engine) -> None:
    pack = load_rules(None)
    assert "Replace the filters with the same grade and size; frames sealed, no gaps" in (
        pack.by_id["filter_clogged"].checklist)
    by_id = {s.id: s for s in load_schedules()}
    assert any("sensitivity" in i for i in by_id["detector-quarterly-test"].checklist)
    assert all(s.checklist for s in by_id.values())


def test_a_checklist_with_nowhere_to_go_or_an_empty_item_is_refused_naming_it(
    engine: sa.Engine,
) -> None:
    alert_only = PACK.replace(
        "    linked_ticket: {priority: P2, department: maintenance, title: Repair the detector}\n",
        "")
    with pytest.raises(RuleError, match="checklist"):
        parse_rules(alert_only)
    with pytest.raises(ScheduleConfigError, match="checklist"):
        parse_schedules('schedules: [{id: s, title: T, cron: "0 8 * * *", checklist: [""]}]')
