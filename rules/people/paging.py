"""Escalation to people (SPEC §8.5): an open alert pages its department's level-1 person on
duty at once, then each further level of the chain once its `after` has passed unacknowledged;
a ticket whose SLA is breached walks the chain from the breach. Each page is a `paged`
timeline entry naming the person, a row in `oncall_pages` (one per incident and level) and a
delivery per contact of that person carrying their acknowledge link, all in one transaction.
An alert stops when it is acknowledged (anywhere); a ticket when its link is used, or it
closes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from rules.db.schema import incidents, link_uses, oncall_pages
from rules.incidents import rows
from rules.incidents.clocks import of_sites
from rules.incidents.record import OPEN_TICKET_STATES, Incident, TimelineEntry
from rules.incidents.service import IncidentService
from rules.notify.routes import Route
from rules.people.contacts import enqueue
from rules.people.links import ACK_TTL_S, LinkSigner
from rules.people.oncall import Level, OnCall

log = logging.getLogger("sitewatch.people")
# Whether notifications about this incident are muted now (a silence); not paged meanwhile.
Muted = Callable[[sa.Connection, Incident, datetime], object]


def chain_start(incident: Incident) -> datetime | None:
    """When the chain's clock starts: an alert's opening, a ticket's first missed deadline."""
    if incident.kind == "alert":
        return incident.opened_at
    missed = [d for d, hit in ((incident.respond_by, incident.respond_breached),
                               (incident.resolve_by, incident.resolve_breached)) if hit and d]
    return min(missed) if missed else None


class Pager:
    """Walks each open incident up its department's chain, one level at a time."""

    def __init__(
        self, engine: sa.Engine, incidents_service: IncidentService, oncall: OnCall,
        signer: LinkSigner, routes: dict[str, dict[str, Route]],
        clock: Callable[[], float],
        muted: Muted | None = None,  # e.g. a silence in force (rules/operations/silences.py)
    ) -> None:
        self._muted = muted
        self._engine = engine
        self._incidents = incidents_service
        self._oncall = oncall
        self._signer = signer
        self._routes = routes  # person id -> channel -> route
        self._clock = clock

    def _candidates(self, conn: sa.Connection, at: datetime,
                    sites: Collection[str] | None) -> list[Incident]:
        c = incidents.c
        alerts = sa.and_(c.kind == "alert", c.state == "active", c.test.is_(sa.false()),
                         sa.or_(c.shelved_until.is_(None), c.shelved_until <= at),
                         sa.or_(c.group_id.is_(None), c.group_id == c.id))  # members fold

        tickets = sa.and_(c.kind == "ticket", c.state.in_(OPEN_TICKET_STATES),
                          sa.or_(c.respond_breached.is_(sa.true()),
                                 c.resolve_breached.is_(sa.true())))
        acked = sa.select(link_uses.c.incident_id).where(link_uses.c.purpose == "ack")
        found = conn.execute(rows.select_incidents().where(
            c.department.in_(self._oncall.departments()), sa.or_(alerts, tickets),
            c.id.not_in(acked), *of_sites(sites)).order_by(c.id)).all()
        return [rows.to_incident(r) for r in found]

    def run_due(self, now: float | None = None, sites: Collection[str] | None = None,
                ) -> list[TimelineEntry]:
        """Page every level that has come due, for incidents at `sites` (the sites this
        instance serves, SPEC §11; None: all); returns the `paged` entries written."""
        now = self._clock() if now is None else now
        at = datetime.fromtimestamp(now, UTC)
        with self._engine.connect() as conn:
            due = self._candidates(conn, at, sites)
            done = {(r.incident_id, r.level) for r in conn.execute(
                sa.select(oncall_pages.c.incident_id, oncall_pages.c.level).where(
                    oncall_pages.c.incident_id.in_([i.id for i in due])))}
        written: list[TimelineEntry] = []
        for incident in due:
            start = chain_start(incident)
            if start is None:
                continue
            waited = (at - start).total_seconds()
            for level in self._oncall.chain(incident.department, at):
                if level.after_s <= waited and (incident.id, level.level) not in done:
                    written += self._page(incident.id, level, now)
        return written

    def _page(self, incident_id: int, level: Level, now: float) -> list[TimelineEntry]:
        at = datetime.fromtimestamp(now, UTC)

        def work(conn: sa.Connection) -> list[TimelineEntry]:
            incident = rows.fetch(conn, incident_id, for_update=True)
            still = (incident.state == "active" if incident.kind == "alert"
                     else incident.state in OPEN_TICKET_STATES)
            taken = conn.scalar(sa.select(sa.func.count()).select_from(oncall_pages).where(
                oncall_pages.c.incident_id == incident_id,
                oncall_pages.c.level == level.level))
            if not still or taken:
                return []  # acknowledged or closed meanwhile, or another instance paged it
            if self._muted is not None and self._muted(conn, incident, at):
                return []  # silenced: paged once the silence ends, if still unacknowledged
            routes = self._routes.get(level.person_id or "", {})
            if level.person is None:
                note = f"escalation level {level.level}: nobody on duty to notify"
            else:
                how = ", ".join(sorted(routes)) or "no contact configured"
                note = (f"escalation level {level.level}: notified {level.person.name} "
                        f"({level.person_id}) by {how}")
            entry = rows.add_entry(conn, incident_id, at=at, actor="system", action="paged",
                                   from_state=incident.state, to_state=incident.state, note=note)
            conn.execute(oncall_pages.insert().values(
                incident_id=incident_id, level=level.level, person_id=level.person_id,
                timeline_id=entry.id, paged_at=at))
            if level.person is not None and level.person_id is not None:
                url = self._signer.url("ack", incident_id, level.person_id, now, ACK_TTL_S)
                extra = {
                    "person": {"id": level.person_id, "name": level.person.name},
                    "level": level.level, "acknowledge_url": url,
                    "link_expires_at": datetime.fromtimestamp(now + ACK_TTL_S, UTC).isoformat(),
                }
                for channel, route in sorted(routes.items()):
                    contact = level.person.email if channel == "email" else level.person.webhook
                    enqueue(conn, route, incident, entry, f"page-{entry.id}-{route.name}",
                            {**extra, "recipient": {channel: contact}}, now)
            return [entry]

        def wrapped(conn: sa.Connection) -> tuple[list[TimelineEntry], list[TimelineEntry]]:
            entries = work(conn)
            return entries, entries

        return self._incidents.write(wrapped)
