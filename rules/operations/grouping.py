"""Grouping (SPEC §8.2): alerts of one site and zone opened within 5 minutes of a critical
alert are one group, headed by the first; the head lists its members and one acknowledge on
it acknowledges them all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules.audit import log as audit
from rules.db.schema import incidents
from rules.incidents import rows
from rules.incidents.record import IllegalTransition, Incident, TimelineEntry

GROUP_WITHIN = timedelta(minutes=5)  # an alert this close to a critical one joins its group
_OPEN_ALERT = ("active", "acknowledged")


def join(conn: sa.Connection, alert: Incident, at: datetime) -> list[TimelineEntry]:
    """Put a new alert in its group (its own when none is near); entries on both sides."""
    head = None if alert.test or not alert.zone else _group_for(conn, alert)
    if head is None:
        rows.update_incident(conn, alert.id, group_id=alert.id)
        return []
    head_id, head_state = head
    rows.update_incident(conn, alert.id, group_id=head_id)
    where = f" ({alert.device_id})" if alert.device_id else ""
    return [
        rows.add_entry(conn, head_id, at=at, actor="system", action="grouped",
                       from_state=head_state, to_state=head_state,
                       note=f"alert #{alert.id} joined this group: {alert.title}{where}"),
        rows.add_entry(conn, alert.id, at=at, actor="system", action="grouped",
                       from_state=alert.state, to_state=alert.state,
                       note=f"joined the group of alert #{head_id}"),
    ]


def _first_head(critical_only: bool) -> sa.Select[Any]:
    """(id, state) of the head of the group of the first open alert of a zone, opened since
    a time; the new alert itself left out. Built once per variant, values as parameters."""
    c = incidents.c
    first = (
        sa.select(sa.func.coalesce(c.group_id, c.id))
        .where(c.kind == "alert", c.state.in_(_OPEN_ALERT), c.test.is_(sa.false()),
               c.site == sa.bindparam("b_site"), c.zone == sa.bindparam("b_zone"),
               c.id != sa.bindparam("b_id"), c.opened_at >= sa.bindparam("b_since"))
        .order_by(c.opened_at, c.id)
        .limit(1)
    )
    if critical_only:
        first = first.where(c.severity == "critical")
    head = incidents.alias("head")
    return sa.select(head.c.id, head.c.state).where(head.c.id == first.scalar_subquery())


_HEAD_OF = {True: _first_head(True), False: _first_head(False)}


def _group_for(conn: sa.Connection, alert: Incident) -> tuple[int, str] | None:
    """The head (id, state) of the group of the first open alert of the zone near enough (a
    critical one, unless the new alert is critical itself): one query, on an alarm's path."""
    found = conn.execute(_HEAD_OF[alert.severity != "critical"], {
        "b_site": alert.site, "b_zone": alert.zone, "b_id": alert.id,
        "b_since": alert.opened_at - GROUP_WITHIN,
    }).first()
    return None if found is None else (int(found.id), str(found.state))


def members(conn: sa.Connection, head_id: int) -> list[Incident]:
    """The group's alerts other than its head, oldest first."""
    c = incidents.c
    found = conn.execute(
        rows.select_incidents().where(c.group_id == head_id, c.id != head_id).order_by(c.id)
    ).all()
    return [rows.to_incident(r) for r in found]


def acknowledge(conn: sa.Connection, incident_id: int, *, actor: str, note: str,
                at: datetime) -> tuple[int, list[TimelineEntry]]:
    """Acknowledge the group's head and every active member, one entry each; the head's id.

    Given a member, its group is acknowledged. Nothing active in the group: IllegalTransition.
    """
    given = rows.fetch(conn, incident_id, for_update=True)
    if given.kind != "alert":
        raise IllegalTransition(incident_id, "acknowledge", given.state)
    head_id = given.group_id or given.id
    head = rows.fetch(conn, head_id, for_update=True)
    entries = []
    for alert in [head, *members(conn, head_id)]:
        if alert.state != "active":
            continue
        rows.update_incident(conn, alert.id, state="acknowledged", acknowledged_at=at,
                             next_escalation_at=None)
        text = f"group of #{head_id} acknowledged" + (f": {note}" if note else "")
        entries.append(rows.add_entry(conn, alert.id, at=at, actor=actor, action="acknowledged",
                                      from_state="active", to_state="acknowledged", note=text))
    if not entries:
        raise IllegalTransition(incident_id, "acknowledge", given.state)
    audit.record(conn, actor=actor, action="incident.acknowledge_group", at=at, site=head.site,
                 target=f"incident:{head_id}",
                 detail={"acknowledged": [e.incident_id for e in entries], "note": note})
    return head_id, entries


def counts(conn: sa.Connection) -> dict[str, int]:
    """Open alerts and the groups they make (an alert alone is a group of one)."""
    c = incidents.c
    open_alerts = sa.and_(c.kind == "alert", c.state.in_(_OPEN_ALERT))
    alerts = conn.execute(sa.select(sa.func.count()).where(open_alerts)).scalar_one()
    groups = conn.execute(
        sa.select(sa.func.count(sa.distinct(sa.func.coalesce(c.group_id, c.id)))).where(
            open_alerts
        )
    ).scalar_one()
    return {"alerts": int(alerts), "groups": int(groups)}
