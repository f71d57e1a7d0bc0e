"""Satisfaction (SPEC §8.4): a ticket opened by hand may name its requester's contact; once
it is resolved the requester is sent a rating link (signed, single use, 14 days) through the
requesters' route, and their one rating (1-5 and a comment) is kept for the reports:
count, average and distribution per department for a period."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from rules.audit import log as audit
from rules.db.database import WRITE
from rules.db.schema import incidents, ratings, ticket_requesters
from rules.incidents import rows
from rules.incidents.clocks import of_sites
from rules.incidents.queries import timeline
from rules.notify.routes import Route
from rules.people.contacts import enqueue
from rules.people.links import RATE_TTL_S, Link, LinkRefused, LinkSigner

log = logging.getLogger("sitewatch.people")
SCORES = (1, 2, 3, 4, 5)
COMMENT_MAX = 2000  # characters


@dataclass(frozen=True)
class Requester:
    """Who asked for a ticket, and how to reach them (one of email, webhook)."""

    name: str | None
    email: str | None
    webhook: str | None


def add_requester(conn: sa.Connection, incident_id: int, requester: Requester) -> None:
    """Keep a hand-opened ticket's requester, in the ticket's own transaction."""
    conn.execute(ticket_requesters.insert().values(
        incident_id=incident_id, name=requester.name, email=requester.email,
        webhook=requester.webhook, survey_sent_at=None))


class Surveys:
    """Sends each resolved ticket's requester their rating link, once."""

    def __init__(self, engine: sa.Engine, signer: LinkSigner, routes: dict[str, Route],
                 clock: Callable[[], float]) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._signer = signer
        self._routes = routes  # channel -> the requesters' route
        self._clock = clock

    def run_due(self, now: float | None = None, sites: Collection[str] | None = None) -> int:
        """Log a rating-link delivery for every resolved ticket not surveyed yet, at `sites`
        (the sites this instance serves, SPEC §11; None: all); how many."""
        now = self._clock() if now is None else now
        r, c = ticket_requesters.c, incidents.c
        reachable = []
        if "email" in self._routes:
            reachable.append(r.email.is_not(None))
        if "webhook" in self._routes:
            reachable.append(r.webhook.is_not(None))
        if not reachable:
            return 0
        with self._engine.connect() as conn:
            due = conn.execute(sa.select(r.incident_id).join(
                incidents, c.id == r.incident_id).where(
                r.survey_sent_at.is_(None), c.state == "resolved",
                sa.or_(*reachable), *of_sites(sites))).scalars().all()
        return sum(self._send(int(i), now) for i in due)

    def _send(self, incident_id: int, now: float) -> int:
        at = datetime.fromtimestamp(now, UTC)
        with self._writer.begin() as conn:
            req = conn.execute(sa.select(ticket_requesters).where(
                ticket_requesters.c.incident_id == incident_id,
                ticket_requesters.c.survey_sent_at.is_(None))).first()
            if req is None:
                return 0
            incident = rows.fetch(conn, incident_id)
            entry = [e for e in timeline(conn, incident_id) if e.action == "resolved"][-1]
            channel = "email" if req.email and "email" in self._routes else "webhook"
            route = self._routes[channel]
            url = self._signer.url("rate", incident_id, "requester", now, RATE_TTL_S)
            contact = req.email if channel == "email" else req.webhook
            extra: dict[str, Any] = {"requester": {"name": req.name}, "rate_url": url,
                                     "recipient": {channel: contact}}
            enqueue(conn, route, incident, entry, f"rate-{incident_id}-{route.name}", extra, now)
            conn.execute(ticket_requesters.update().where(
                ticket_requesters.c.incident_id == incident_id).values(survey_sent_at=at))
        return 1


def rate_view(signer: LinkSigner, engine: sa.Engine, token: str, now: float) -> Link:
    """Check a rating link (LinkRefused: malformed, tampered, expired, used)."""
    link = signer.read("rate", token, now)
    with engine.connect() as conn:
        if LinkSigner.used(conn, link):
            raise LinkRefused("used", link)
    return link


def rate(signer: LinkSigner, engine: sa.Engine, token: str, score: int, comment: str,
         now: float) -> Link:
    """Record the requester's one rating (LinkRefused when the link may not act; ValueError
    for a score outside 1-5)."""
    if score not in SCORES:
        raise ValueError("score: a whole number from 1 to 5")
    link = signer.read("rate", token, now)
    at = datetime.fromtimestamp(now, UTC)
    try:
        with engine.execution_options(**WRITE).begin() as conn:
            LinkSigner.use(conn, link, "requester", at)
            incident = rows.fetch(conn, link.incident_id)
            conn.execute(ratings.insert().values(
                incident_id=incident.id, department=incident.department, site=incident.site,
                score=score, comment=comment[:COMMENT_MAX], rated_at=at))
            audit.record(conn, actor="link:requester", action="incident.rate",
                         target=f"incident:{incident.id}", at=at, site=incident.site,
                         detail={"score": score})
    except IntegrityError:
        raise LinkRefused("used", link) from None  # a racer used it (or rated) first
    return link


def satisfaction(engine: sa.Engine, start: datetime, end: datetime,
                 sites: frozenset[str] | None = None) -> dict[str, Any]:
    """Ratings given in [start, end): count, average and 1-5 distribution, overall and per
    department (only tickets of `sites` when given)."""
    c = ratings.c
    scope = [] if sites is None else [c.site.in_(sorted(sites))]
    with engine.connect() as conn:
        found = conn.execute(sa.select(c.department, c.score, sa.func.count()).where(
            c.rated_at >= start, c.rated_at < end, *scope).group_by(
            c.department, c.score)).all()
    per: dict[str, dict[int, int]] = {}
    for department, score, count in found:
        per.setdefault(str(department), {})[int(score)] = int(count)
    overall: dict[int, int] = {}
    for counts in per.values():
        for score, n in counts.items():
            overall[score] = overall.get(score, 0) + n
    return {"overall": _figures(overall),
            "departments": {d: _figures(n) for d, n in sorted(per.items())}}


def _figures(counts: dict[int, int]) -> dict[str, Any]:
    total = sum(counts.values())
    mean = sum(s * n for s, n in counts.items()) / total if total else None
    return {"count": total, "average": None if mean is None else round(mean, 2),
            "distribution": {str(s): counts.get(s, 0) for s in SCORES}}
