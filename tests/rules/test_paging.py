"""Escalation to people: an alert pages the on-call chain level by level on an injected clock
and stops once acknowledged; a breached ticket walks the chain from its breach and stops when
its acknowledge link is used; links are purpose-bound, expiring, single use, tamper-proof."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rules.db.schema import deliveries, incidents, oncall_pages
from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from rules.notify.routes import Route
from rules.operations import silences
from rules.operations.silences import silenced
from rules.people import acknowledging
from rules.people.contacts import person_routes
from rules.people.links import ACK_TTL_S, LinkRefused, LinkSigner, database_secret
from rules.people.oncall import OnCall, parse
from rules.people.paging import Pager
from tests.databases import DATABASES

T0 = 1_795_773_600.0  # 2026-11-27 10:00:00 UTC, a Friday
PACK = """
- id: fire-alarm
  title: Fire alarm
  description: A smoke detector is in alarm.
  kind: event
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, latching: true, runbook: "Evacuate the floor."}
- id: door-forced
  title: Door forced
  description: A door opened without a badge.
  kind: event
  select: {kinds: [door]}
  event: door_forced_open
  raises: {type: alert, severity: major, latching: true}
"""
ROTA = """
timezone: Asia/Taipei
people:
  alice: {name: Alice Chen, email: alice@example.com, webhook: "http://127.0.0.1:9/alice"}
  bob: {name: Bob Lin, email: bob@example.com}
  carol: {name: Carol Wu, email: carol@example.com}
  dave: {name: Dave Ho, webhook: "http://127.0.0.1:9/dave"}
departments:
  security:
    rota:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "08:00", end: "20:00", person: alice}
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "20:00", end: "08:00", person: bob}
    escalation:
      - {after: 0m, to: on_duty}
      - {after: 5m, to: carol}
      - {after: 15m, to: dave}
  maintenance:
    rota:
      - {days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00", person: bob}
    escalation:
      - {after: 0m, to: on_duty}
      - {after: 10m, to: carol}
"""
MAIL = Route(name="people-mail", channel="email", smtp_host="127.0.0.1", smtp_port=25,
             mail_from="sitewatch@example.org", mail_to=["nobody@example.org"], actions=[])
HOOK = Route(name="people-hook", channel="webhook", url="http://127.0.0.1:9/x", secret="k",
             actions=[])


class Clock:
    """A clock the test moves by hand (Unix seconds)."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: sa.Engine, clock: Clock) -> IncidentService:
    return IncidentService(engine, parse_rules(PACK), clock=clock)


@pytest.fixture
def oncall() -> OnCall:
    return parse(ROTA)


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner("test-secret", "https://sitewatch.example.org/")


@pytest.fixture
def pager(engine: sa.Engine, service: IncidentService, oncall: OnCall, signer: LinkSigner,
          clock: Clock) -> Pager:
    return Pager(engine, service, oncall, signer,
                 person_routes(oncall.config.people, MAIL, HOOK), clock, muted=silenced)


def fire(service: IncidentService, device: str = "sd-1") -> int:
    entries = service.apply(Signal("fire-alarm", "fire", "hq", device, T0, zone="hall-a",
                                   device_kind="smoke_detector"))
    return entries[0].incident_id


def paged(engine: sa.Engine, incident_id: int) -> list[tuple[int, str | None]]:
    with engine.connect() as conn:
        return [(r.level, r.person_id) for r in conn.execute(
            sa.select(oncall_pages).where(oncall_pages.c.incident_id == incident_id)
            .order_by(oncall_pages.c.level))]


def sent(engine: sa.Engine, incident_id: int) -> list[tuple[str, dict]]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(deliveries.c.route, deliveries.c.payload).where(
            deliveries.c.incident_id == incident_id).order_by(deliveries.c.id)).all()
    return [(r.route, json.loads(r.payload)) for r in found]


@pytest.mark.parametrize("engine", DATABASES, indirect=True)
def test_an_alert_pages_the_chain_level_by_level_and_stops_once_acknowledged(
    engine: sa.Engine, service: IncidentService, pager: Pager, clock: Clock
) -> None:
    alert = fire(service)  # 18:00 in Taipei: Alice's shift
    other = fire(service, "sd-2")
    pager.run_due(T0)
    assert paged(engine, alert) == [(1, "alice")]
    routes = sent(engine, alert)
    assert [r for r, _ in routes] == ["oncall.alice.email", "oncall.alice.webhook"]
    payload = routes[0][1]
    assert payload["person"] == {"id": "alice", "name": "Alice Chen"}
    assert payload["recipient"] == {"email": "alice@example.com"}
    assert payload["acknowledge_url"].startswith("https://sitewatch.example.org/ack/")
    assert routes[1][1]["recipient"] == {"webhook": "http://127.0.0.1:9/alice"}
    entry = service.timeline(alert)[-1]
    assert (entry.action, entry.actor) == ("paged", "system")
    assert "Alice Chen (alice)" in entry.note

    assert pager.run_due(T0 + 299) == []  # level 2 is due at 5 min, not before
    pager.run_due(T0 + 300)
    assert paged(engine, alert) == [(1, "alice"), (2, "carol")]
    assert [r for r, _ in sent(engine, alert)][-1] == "oncall.carol.email"  # no webhook

    clock.t = T0 + 400
    service.transition(alert, "acknowledge", actor="guard")
    pager.run_due(T0 + 3600)
    assert paged(engine, alert) == [(1, "alice"), (2, "carol")]  # Dave never paged
    assert paged(engine, other) == [(1, "alice"), (2, "carol"), (3, "dave")]
    assert pager.run_due(T0 + 7200) == []  # each level once


@pytest.mark.parametrize("engine", DATABASES, indirect=True)
def test_a_breached_ticket_walks_the_chain_from_its_breach_until_its_link_is_used(
    engine: sa.Engine, service: IncidentService, pager: Pager, signer: LinkSigner,
    oncall: OnCall, clock: Clock
) -> None:
    ticket = service.open_ticket(title="Sprinkler valve leaking", description="",
                                 department="maintenance", priority="P1", actor="desk",
                                 site="hq", now=T0).id
    assert pager.run_due(T0 + 60) == []  # not breached: tickets are not paged
    breach = service.get(ticket).respond_by
    assert breach is not None
    at = breach.timestamp()
    service.flag_sla_breaches(at)
    pager.run_due(at)
    assert paged(engine, ticket) == [(1, "bob")]
    url = sent(engine, ticket)[0][1]["acknowledge_url"]
    token = url.rsplit("/", 1)[1]

    clock.t = at + 120
    seen = acknowledging.acknowledge(signer, service, parse_rules(PACK), oncall, token, at + 120)
    assert seen.person_name == "Bob Lin"
    last = service.timeline(ticket)[-1]
    assert (last.action, last.actor) == ("escalation_acknowledged", "bob")
    pager.run_due(at + 3600)
    assert paged(engine, ticket) == [(1, "bob")]  # Carol is not called: Bob answered
    with pytest.raises(LinkRefused) as used:
        acknowledging.acknowledge(signer, service, parse_rules(PACK), oncall, token, at + 130)
    assert used.value.reason == "used" and used.value.status == 410
    assert service.timeline(ticket)[-1].id == last.id  # nothing changed


def test_group_members_fold_into_their_head_and_a_silence_holds_paging_until_it_ends(
    engine: sa.Engine, service: IncidentService, pager: Pager, signer: LinkSigner,
    oncall: OnCall
) -> None:
    head, member = fire(service, "sd-1"), fire(service, "sd-2")
    with engine.begin() as conn:  # as operations' grouping leaves them (SPEC §8.2)
        conn.execute(sa.update(incidents).where(incidents.c.id.in_([head, member]))
                     .values(group_id=head))
    door = service.apply(Signal("door-forced", "door", "hq", "door-1", T0, zone="lobby",
                                device_kind="door"))[0].incident_id
    at = datetime.fromtimestamp(T0, UTC)
    with engine.begin() as conn:
        silences.create(conn, {"zone": "lobby"}, until=datetime.fromtimestamp(T0 + 600, UTC),
                        comment="lock being fitted", actor="lead", now=at)
    pager.run_due(T0)
    assert paged(engine, head) == [(1, "alice")]
    assert paged(engine, member) == []  # one fire, one page
    assert paged(engine, door) == []  # silenced
    pager.run_due(T0 + 600)  # the silence ended, the door is still unacknowledged
    assert paged(engine, door) == [(1, "alice"), (2, "carol")]
    token = sent(engine, head)[0][1]["acknowledge_url"].rsplit("/", 1)[1]
    acknowledging.acknowledge(signer, service, parse_rules(PACK), oncall, token, T0 + 700)
    assert [service.get(i).state for i in (head, member)] == ["acknowledged"] * 2  # one fire
    assert service.timeline(member)[-1].actor == "alice"


def test_links_are_purpose_bound_expiring_and_tamper_proof(signer: LinkSigner) -> None:
    token = signer.token("ack", 7, "alice", T0, ACK_TTL_S)
    link = signer.read("ack", token, T0 + 10)
    assert (link.incident_id, link.subject, link.expires_at) == (7, "alice", T0 + 3600)
    cases = {
        "expired": lambda: signer.read("ack", token, T0 + ACK_TTL_S),
        "tampered": lambda: signer.read("ack", token[:-2] + ("AA" if token[-2:] != "AA"
                                                             else "BB"), T0),
        "tampered ": lambda: signer.read("rate", token, T0),  # an ack link is no rating link
        "tampered  ": lambda: LinkSigner("other", "x").read("ack", token, T0),
        "malformed": lambda: signer.read("ack", "x" * 1001, T0),
    }
    for reason, call in cases.items():
        with pytest.raises(LinkRefused) as refused:
            call()
        assert refused.value.reason == reason.strip()
    assert signer.token("ack", 7, "alice", T0, ACK_TTL_S) != token  # each link its own id


def test_instances_share_the_secret_kept_in_the_database(engine: sa.Engine) -> None:
    first = database_secret(engine, datetime.fromtimestamp(T0, UTC))
    assert len(first) >= 40 and database_secret(engine) == first
    token = LinkSigner(first, "a").token("rate", 1, "requester", T0, 60)
    assert LinkSigner(database_secret(engine), "b").read("rate", token, T0).incident_id == 1
