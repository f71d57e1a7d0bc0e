"""Scheduled work divided by site (SITEWATCH_SITES, SPEC §11): two instances on one database,
each expiring operations, re-checking forced resolves, paging and notifying only for the sites
it serves."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.operations.silences import silenced
from rules.people.contacts import person_routes
from rules.people.links import LinkSigner
from rules.people.oncall import parse
from rules.people.paging import Pager
from tests.databases import DATABASES
from tests.rules import test_notify as notify
from tests.rules import test_paging as paging
from tests.rules.operations_helpers import Clock, make_site, set_phase
from tests.rules.test_resolve_still_present import GRACE, T0, Plant
from tests.servers import free_port

# Production's database in the full suite; the fast loop runs the same scenarios on SQLite (like
# every PostgreSQL variant, the PostgreSQL one is `slow`).
pytestmark = pytest.mark.parametrize("engine", DATABASES, indirect=True)


def test_a_disablement_at_a_site_is_ended_by_its_owner_alone(engine: sa.Engine) -> None:
    clock = Clock()
    owner, other = make_site(engine, clock), make_site(engine, clock)  # two instances
    owner.ops.disable({"site": "hq", "device_id": "hd-01"}, reason="hot works",
                      until=clock.at(600), actor="ana", role="security")
    owner.ops.start_test({"site": "hq", "zone": "hall-a"}, note="quarterly",
                         until=clock.at(600), actor="ana")
    set_phase(engine, "heat_fixed", "hd-01", "firing")
    owner.signal("heat_fixed", "hd-01")
    clock.now += 601
    assert other.ops.expire_due(sites={"annex"}) == 0  # not its site: left for the owner
    assert [d.ended_at for d in other.ops.disablements()] == [None]
    assert owner.ops.expire_due(sites={"hq", "annex"}) >= 1
    assert other.ops.expire_due(sites={"annex"}) == 0
    assert owner.ops.expire_due(sites={"hq"}) == 0  # once
    [record] = owner.ops.disablements()
    [test] = owner.ops.tests()
    assert (record.ended_by, test.ended_by) == ("system", "system")
    [alert] = owner.open_of("heat_fixed", "hd-01")  # raised once, by the owner
    assert alert.opened_at.timestamp() == clock.now


def test_a_forced_resolve_is_rechecked_by_the_owner_of_its_site(engine: sa.Engine) -> None:
    plant, elsewhere = Plant(engine), Plant(engine)  # the ticket is at "hq"
    plant.filter(381, T0)
    [(ticket, _)] = plant.tickets()
    plant.incidents.transition(ticket, "resolve", actor="tech", force=True, note="replaced",
                               now=T0 + 60)
    assert elsewhere.incidents.recheck_forced(now=T0 + 60 + GRACE, sites={"annex"}) == []
    assert [s for _, s in plant.tickets()] == ["resolved"]
    entries = plant.incidents.recheck_forced(now=T0 + 60 + GRACE, sites={"hq"})
    assert [e.action for e in entries] == ["opened"]
    assert elsewhere.incidents.recheck_forced(now=T0 + 61 + GRACE, sites={"annex"}) == []
    assert [s for _, s in plant.tickets()] == ["resolved", "open"]


def test_an_alert_is_paged_by_the_owner_of_its_site(engine: sa.Engine) -> None:
    clock = paging.Clock()
    incidents = IncidentService(engine, parse_rules(paging.PACK), clock=clock)
    oncall = parse(paging.ROTA)
    owner, other = (Pager(engine, incidents, oncall, LinkSigner("k", "https://sw.example.org/"),
                          person_routes(oncall.config.people, paging.MAIL, paging.HOOK), clock,
                          muted=silenced) for _ in range(2))
    alert = paging.fire(incidents)  # at "hq"
    assert other.run_due(paging.T0, sites={"annex"}) == []
    assert paging.paged(engine, alert) == []
    assert [e.action for e in owner.run_due(paging.T0, sites={"hq"})] == ["paged"]
    assert other.run_due(paging.T0 + 1, sites={"annex"}) == []
    assert owner.run_due(paging.T0 + 1, sites={"hq"}) == []  # once
    assert paging.paged(engine, alert) == [(1, "alice")]


def test_a_notification_is_sent_by_the_owner_of_its_incidents_site(engine: sa.Engine) -> None:
    clock = notify.Clock()
    incidents = IncidentService(engine, parse_rules(notify.PACK), clock=clock)
    receiver, server = notify.serve_receiver(free_port(), [])
    route = notify.webhook(receiver.url)
    owner, other = (notify.notifier_for(incidents, engine, [route], clock=clock,
                                        sites=lambda s=s: s)  # type: ignore[misc]
                    for s in ({"hq"}, {"annex", ""}))  # "": the unsited incidents
    try:
        notify.fire_alarm(incidents)  # at "hq"
        incidents.open_ticket(title="Lift stuck", description="", department="maintenance",
                              priority="P3", actor="desk")  # no site
        for n in (owner, other):
            n.catch_up()
        assert (other.deliver_due(), owner.deliver_due()) == (1, 1)
        assert (other.deliver_due(), owner.deliver_due()) == (0, 0)
    finally:
        server.shutdown()
        server.server_close()
    sent = sorted(json.loads(body)["incident"]["site"] or "" for _, body in receiver.requests)
    assert sent == ["", "hq"]  # each once
