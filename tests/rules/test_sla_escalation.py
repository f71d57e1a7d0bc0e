"""A breached ticket is escalated, not only flagged (SPEC §1, issue 17.6)."""

from __future__ import annotations

import sqlalchemy as sa

from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.notify.routes import Route

T0 = 1_795_773_600.0  # Unix seconds
MIN = 60.0


def test_a_breach_raises_the_ticket_s_escalation_level_with_a_timeline_entry_routes_receive(
    engine: sa.Engine,
) -> None:
    svc = IncidentService(engine, parse_rules("[]"))
    ticket = svc.open_ticket(title="Leak", description="Water", department="maintenance",
                             priority="P1", actor="reception", now=T0)
    entries = svc.flag_sla_breaches(now=T0 + 15 * MIN)
    assert [e.action for e in entries] == ["sla_breached", "escalated"]
    assert entries[1].note.startswith("escalation level 1: respond deadline")
    assert svc.get(ticket.id).escalation_level == 1
    assert svc.flag_sla_breaches(now=T0 + 20 * MIN) == []  # once per clock
    entries = svc.flag_sla_breaches(now=T0 + 4 * 60 * MIN)
    assert [e.action for e in entries] == ["sla_breached", "escalated"]
    late = svc.get(ticket.id)
    assert late.escalation_level == 2
    # The next level is, until on-call chains exist, the notification routes: a default route
    # sends every escalation.
    route = Route(name="duty", channel="webhook", url="https://x.example", secret="s")
    assert route.matches(late, "escalated")


def test_a_ticket_answered_late_is_flagged_but_not_escalated_afterwards(
    engine: sa.Engine,
) -> None:
    svc = IncidentService(engine, parse_rules("[]"))
    ticket = svc.open_ticket(title="Leak", description="Water", department="maintenance",
                             priority="P1", actor="reception", now=T0)
    svc.transition(ticket.id, "start", actor="tech", now=T0 + 20 * MIN)
    assert svc.get(ticket.id).escalation_level == 0
