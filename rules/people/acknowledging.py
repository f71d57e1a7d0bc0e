"""Acknowledging from a notification (SPEC §8.5): the acknowledge link's page shows what it
would do; its POST acknowledges as the person it was sent to, and records the link's one use
in the same transaction, so a used, expired or tampered link changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from rules.engine.models import RulePack
from rules.incidents import rows
from rules.incidents.record import IllegalTransition, Incident, TimelineEntry
from rules.incidents.service import IncidentService
from rules.incidents.transitions import move
from rules.operations import grouping
from rules.people.links import Link, LinkRefused, LinkSigner
from rules.people.oncall import OnCall


@dataclass(frozen=True)
class AckView:
    """What an acknowledge link is for, to show before acting."""

    link: Link
    incident: Incident
    person_name: str


def person_name(oncall: OnCall | None, person_id: str) -> str:
    """The person's name from the on-call file (their id when the file no longer has them)."""
    person = oncall.config.people.get(person_id) if oncall is not None else None
    return person.name if person is not None else person_id


def view(signer: LinkSigner, engine: sa.Engine, incidents: IncidentService,
         oncall: OnCall | None, token: str, now: float) -> AckView:
    """Check the link (LinkRefused) and read what it acknowledges; changes nothing."""
    link = signer.read("ack", token, now)
    with engine.connect() as conn:
        if LinkSigner.used(conn, link):
            raise LinkRefused("used", link)
    return AckView(link, incidents.get(link.incident_id), person_name(oncall, link.subject))


def acknowledge(signer: LinkSigner, incidents: IncidentService, pack: RulePack,
                oncall: OnCall | None, token: str, now: float) -> AckView:
    """Acknowledge as the link's person: an alert moves to acknowledged, a breached ticket's
    chain stops (an `escalation_acknowledged` entry). LinkRefused, or IllegalTransition when
    the incident no longer waits for it; either way nothing changes."""
    link = signer.read("ack", token, now)
    at = datetime.fromtimestamp(now, UTC)
    name = person_name(oncall, link.subject)
    note = f"acknowledged from the notification sent to {name}"

    def work(conn: sa.Connection) -> tuple[int, list[TimelineEntry]]:
        LinkSigner.use(conn, link, link.subject, at)
        incident = rows.fetch(conn, link.incident_id, for_update=True)
        if incident.kind == "alert" and incident.group_id == incident.id \
                and incident.state == "active":  # a group's head: the page was for all of it
            return grouping.acknowledge(conn, incident.id, actor=link.subject, note=note, at=at)
        if incident.kind == "alert":
            return incident.id, move(conn, pack, incident.id, "acknowledge", at,
                                     actor=link.subject, note=note, assignee=None,
                                     force=False, code=None, grace_s=0.0)
        if not incident.is_open:
            raise IllegalTransition(incident.id, "acknowledge", incident.state)
        entry = rows.add_entry(conn, incident.id, at=at, actor=link.subject,
                               action="escalation_acknowledged", from_state=incident.state,
                               to_state=incident.state, note=note)
        return incident.id, [entry]

    return AckView(link, incidents.get(incidents.write(work)), name)
