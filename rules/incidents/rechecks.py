"""A ticket's condition still present: refuse its resolve, or check again after a forced one.

"Present" is what the rules engine last saved for (rule, device) in `rule_state`: a rule
firing (or waiting out its clear hold) still sees its condition. The evaluator saves every
phase change, so this is as fresh as the last reading."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from rules.db.schema import incidents, resolve_rechecks, rule_state
from rules.engine.models import Rule, RulePack
from rules.engine.signals import Signal
from rules.incidents import opening, rows
from rules.incidents.clocks import of_sites
from rules.incidents.record import Incident, TimelineEntry
from rules.incidents.sla import SlaPolicy

PRESENT_PHASES = ("firing", "clearing")


def _rule_ids(pack: RulePack, rule_id: str) -> list[str]:
    """The incident's rule and every rule that joins it (its backup signals)."""
    return [r.id for r in pack.rules if r.id == rule_id or r.joins == rule_id]


def condition(conn: sa.Connection, pack: RulePack, ticket: Incident) -> str | None:
    """A line saying the ticket's condition is still present, or None (absent, or by hand)."""
    if ticket.rule_id is None or ticket.device_id is None:
        return None
    if pack.get(ticket.rule_id) is None:
        return None  # its rule was removed: nothing watches the condition any more
    found = conn.execute(
        sa.select(rule_state.c.rule_id, rule_state.c.phase, rule_state.c.since).where(
            rule_state.c.rule_id.in_(_rule_ids(pack, ticket.rule_id)),
            rule_state.c.device_id == ticket.device_id,
            rule_state.c.phase.in_(PRESENT_PHASES),
        )
    ).first()
    if found is None:
        return None
    since = datetime.fromtimestamp(found.since, UTC).isoformat()
    return f"rule {found.rule_id} {found.phase} on {ticket.device_id} since {since}"


def plan(conn: sa.Connection, ticket: Incident, at: datetime, grace_s: float) -> None:
    """Check the ticket's condition again `grace_s` after its forced resolve."""
    assert ticket.rule_id is not None and ticket.device_id is not None
    conn.execute(sa.insert(resolve_rechecks).values(
        incident_id=ticket.id, rule_id=ticket.rule_id, device_id=ticket.device_id,
        due_at=at.timestamp() + grace_s, done_at=None,
    ))


def run_due(
    conn: sa.Connection, pack: RulePack, sla: SlaPolicy, at: datetime,
    sites: Collection[str] | None = None,
) -> list[TimelineEntry]:
    """Open a new ticket for each forced resolve whose condition is still present when due,
    for tickets at `sites` (the sites this instance serves, SPEC §11; None: all)."""
    c = resolve_rechecks.c
    at_sites = [] if sites is None else [c.incident_id.in_(
        sa.select(incidents.c.id).where(*of_sites(sites)))]
    due = conn.execute(
        sa.select(resolve_rechecks).where(c.done_at.is_(None), c.due_at <= at.timestamp(),
                                          *at_sites)
        .order_by(c.id).with_for_update(of=resolve_rechecks)
    ).all()
    entries: list[TimelineEntry] = []
    for check in due:
        conn.execute(sa.update(resolve_rechecks).where(c.id == check.id)
                     .values(done_at=at.timestamp()))
        old = rows.fetch(conn, check.incident_id)
        rule: Rule | None = pack.get(check.rule_id)
        present = condition(conn, pack, old)
        if rule is None or present is None:
            continue
        minutes = round((at.timestamp() - old.resolved_at.timestamp()) / 60) if (
            old.resolved_at) else 0
        signal = Signal(
            rule.id, "fire", old.site or "", check.device_id, at.timestamp(), old.zone,
            message=f"condition still present {minutes} min after ticket #{old.id} was "
            f"resolved by force ({present})",
        )
        entries += opening.fire(conn, signal, rule, sla, at, old.location)
    return entries
