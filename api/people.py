"""Escalation to people and satisfaction surveys, wired for `serve` (rules/people/): the link
signer, a notification route per on-call person and channel plus the requesters' routes
(made from the transports named under `people:` in SITEWATCH_NOTIFICATIONS), and the jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import sqlalchemy as sa

from api.jobs import Job
from api.runtime import Runtime
from api.settings import Settings
from rules.incidents.service import IncidentService
from rules.notify.routes import Route, load_people_routes
from rules.operations.silences import silenced
from rules.people.contacts import person_routes, requester_routes
from rules.people.links import LinkSigner, database_secret
from rules.people.oncall import OnCall
from rules.people.paging import Pager
from rules.people.satisfaction import Surveys

PAGING_EVERY_S = 1.0  # seconds between chain checks: a new alert pages level 1 within this
SURVEYS_EVERY_S = 5.0  # seconds between looks for resolved tickets to survey


def public_url(settings: Settings) -> str:
    """Where people reach this server: SITEWATCH_PUBLIC_URL, else the API's host and port."""
    return settings.public_url or f"http://{settings.api_host}:{settings.api_port}"


def link_signer(settings: Settings, engine: sa.Engine) -> LinkSigner:
    """The signer of links: SITEWATCH_LINK_SECRET, else the database's own secret."""
    return LinkSigner(settings.link_secret or database_secret(engine), public_url(settings))


def links_of(rt: Runtime) -> LinkSigner:
    """The runtime's link signer (made on first use when a test's runtime has none)."""
    if rt.links is None:
        rt.links = link_signer(rt.settings, rt.engine)
    return rt.links


@dataclass
class PeopleParts:
    """What `serve` adds for people: the signer, extra routes and jobs."""

    signer: LinkSigner
    routes: list[Route] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)


def build_people(settings: Settings, engine: sa.Engine, incidents: IncidentService,
                 oncall: OnCall | None,
                 sites: Callable[[], Collection[str] | None] = lambda: None,  # served (§11)
                 ) -> PeopleParts:
    """The signer, person and requester routes, the paging and survey jobs (for the
    incidents at `sites()`; None: all)."""
    signer = link_signer(settings, engine)
    email, webhook = load_people_routes(settings.notifications)
    parts = PeopleParts(signer)
    requesters = requester_routes(email, webhook)
    parts.routes += requesters.values()
    surveys = Surveys(engine, signer, requesters, clock=time.time)
    parts.jobs.append(Job("satisfaction-surveys", lambda now: surveys.run_due(now, sites()),
                          SURVEYS_EVERY_S))
    if oncall is not None:
        per_person = person_routes(oncall.config.people, email, webhook)
        parts.routes += [r for channels in per_person.values() for r in channels.values()]
        pager = Pager(engine, incidents, oncall, signer, per_person, clock=time.time,
                      muted=silenced)
        parts.jobs.append(Job("oncall-paging", lambda now: pager.run_due(now, sites()),
                              PAGING_EVERY_S))
    return parts
