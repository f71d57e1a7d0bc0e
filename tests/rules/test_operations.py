"""Disablements, walk tests and shelving in the incident database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rules.operations.errors import AlreadyEnded, InvalidField, NotAllowed, UnknownTarget
from tests.databases import DATABASES
from tests.rules.operations_helpers import make_site, set_phase

BOTH = pytest.mark.parametrize("engine", DATABASES, indirect=True)


@BOTH
def test_a_disabled_door_raises_nothing_and_its_signal_is_listed_on_the_disablement(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    d = site.ops.disable({"site": "hq", "device_id": "door-01"}, reason="lock replaced",
                         until=site.clock.at(3600), actor="ana", role="security")
    site.clock.now += 10
    assert site.signal("door_forced", "door-01") == []
    site.signal("door_forced", "door-01")
    assert site.open_of("door_forced", "door-01") == []
    record, hidden = site.ops.disablement(d.id)
    assert (record.created_by, record.reason, record.life_safety) == ("ana", "lock replaced",
                                                                     False)
    assert [(h.rule_id, h.device_id, h.count, h.last_action) for h in hidden] == [
        ("door_forced", "door-01", 2, "fire")]
    assert site.ops.summary()["disabled_points"][0]["device_id"] == "door-01"


@BOTH
def test_ending_a_disablement_while_the_door_is_still_forced_raises_at_once(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    d = site.ops.disable({"site": "hq", "zone": "reception"}, reason="works",
                         until=site.clock.at(3600), actor="ana", role="admin")
    site.signal("door_forced", "door-01")
    site.clock.now += 60
    ended = site.ops.end_disablement(d.id, actor="bo", role="admin")
    assert (ended.ended_by, ended.ended_at.timestamp()) == ("bo", site.clock.now)
    [alert] = site.open_of("door_forced", "door-01")
    assert alert.severity == "critical" and "still present" in site.incidents.timeline(
        alert.id)[0].note
    with pytest.raises(AlreadyEnded):
        site.ops.end_disablement(d.id, actor="bo", role="admin")


def test_a_condition_that_cleared_under_a_disablement_does_not_raise_when_it_ends(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    d = site.ops.disable({"site": "hq", "device_id": "hd-01"}, reason="hot works",
                         until=site.clock.at(3600), actor="ana", role="security")
    set_phase(engine, "heat_fixed", "hd-01", "firing")
    site.signal("heat_fixed", "hd-01")
    set_phase(engine, "heat_fixed", "hd-01", "inactive")
    site.signal("heat_fixed", "hd-01", action="clear")
    site.ops.end_disablement(d.id, actor="ana", role="security")
    assert site.open_of("heat_fixed", "hd-01") == []


def test_a_disablement_ends_by_itself_at_until_and_raises_what_still_holds(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    site.ops.disable({"site": "hq", "device_id": "hd-01"}, reason="hot works",
                     until=site.clock.at(600), actor="ana", role="security")
    set_phase(engine, "heat_fixed", "hd-01", "firing")
    site.signal("heat_fixed", "hd-01")
    site.ops.expire_due()
    assert site.open_of("heat_fixed", "hd-01") == []  # not yet
    site.clock.now += 601
    site.ops.expire_due()
    [alert] = site.open_of("heat_fixed", "hd-01")
    assert alert.opened_at.timestamp() == site.clock.now
    [record] = site.ops.disablements()
    assert record.ended_by == "system"


def test_two_disablements_on_one_device_hide_it_until_the_last_ends(engine: sa.Engine) -> None:
    site = make_site(engine)
    zone = site.ops.disable({"site": "hq", "zone": "reception"}, reason="painting",
                            until=site.clock.at(7200), actor="ana", role="admin")
    door = site.ops.disable({"site": "hq", "device_id": "door-01"}, reason="lock",
                            until=site.clock.at(3600), actor="bo", role="security")
    site.signal("door_forced", "door-01")
    assert [len(site.ops.disablement(i)[1]) for i in (zone.id, door.id)] == [1, 1]
    site.ops.end_disablement(door.id, actor="bo", role="security")
    assert site.open_of("door_forced", "door-01") == []  # the zone's still hides it
    site.ops.end_disablement(zone.id, actor="ana", role="admin")
    assert len(site.open_of("door_forced", "door-01")) == 1


def test_a_long_life_safety_disablement_opens_a_p2_ticket_resolved_when_it_ends(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    short = site.ops.disable({"site": "hq", "device_id": "sd-06"}, reason="cleaning",
                             until=site.clock.at(8 * 3600), actor="ana", role="security")
    assert short.life_safety and short.impairment_ticket_id is None
    long = site.ops.disable({"site": "hq", "zone": "hall-a"}, reason="refit",  # fire and hvac
                            until=site.clock.at(3 * 86400), actor="ana", role="admin")
    ticket = site.incidents.get(long.impairment_ticket_id or 0)
    assert (ticket.priority, ticket.state) == ("P2", "open")
    assert ticket.title.startswith("Fire protection impaired")
    site.ops.end_disablement(long.id, actor="ana", role="admin")
    assert site.incidents.get(ticket.id).state == "resolved"


def test_bad_disablements_are_refused_naming_what_is_wrong(engine: sa.Engine) -> None:
    site = make_site(engine)
    ok = {"site": "hq", "device_id": "door-01"}
    with pytest.raises(InvalidField) as past:
        site.ops.disable(ok, reason="x", until=site.clock.at(-1), actor="a", role="admin")
    with pytest.raises(InvalidField) as far:
        site.ops.disable(ok, reason="x", until=site.clock.at(7 * 86400 + 1), actor="a",
                         role="admin")
    with pytest.raises(InvalidField) as empty:
        site.ops.disable(ok, reason=" ", until=site.clock.at(60), actor="a", role="admin")
    assert (past.value.field, far.value.field, empty.value.field) == ("until", "until", "reason")
    with pytest.raises(UnknownTarget):
        site.ops.disable({"site": "hq", "zone": "moon"}, reason="x",
                         until=site.clock.at(60), actor="a", role="admin")
    with pytest.raises(NotAllowed):  # the role matrix: hvac is maintenance's
        site.ops.disable({"site": "hq", "device_id": "ahu-01"}, reason="x",
                         until=site.clock.at(60), actor="a", role="security")
    with pytest.raises(NotAllowed):
        site.ops.disable(ok, reason="x", until=site.clock.at(60), actor="a", role="maintenance")
    assert site.ops.disablements() == []


@BOTH
def test_a_zone_in_test_opens_test_alerts_that_never_escalate_and_resolve_when_it_ends(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    test = site.ops.start_test({"site": "hq", "zone": "hall-a"}, until=site.clock.at(3600),
                               note="quarterly", actor="ana")
    site.clock.now += 30
    [alert_id] = site.signal("detector_alarm", "sd-06")
    alert = site.incidents.get(alert_id)
    assert (alert.test, alert.test_id, alert.next_escalation_at) == (True, test.id, None)
    site.clock.now += 3600
    assert site.incidents.escalate_due() == []
    _, report = site.ops.test(test.id)
    first = {d["device_id"]: d["first_alarm_at"] for d in report}
    assert first["sd-06"].timestamp() == site.clock.now - 3600
    assert first["sd-07"] is None and "mcp-04" in first  # untested detectors are named
    site.ops.expire_due()
    done = site.incidents.get(alert_id)
    assert (done.state, done.resolution_code) == ("resolved", "test")
    assert site.ops.test(test.id)[0].ended_by == "system"


def test_a_test_inside_a_disabled_zone_opens_nothing_but_counts_the_detector_as_tested(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    site.ops.disable({"site": "hq", "zone": "hall-a"}, reason="x", until=site.clock.at(3600),
                     actor="ana", role="admin")
    test = site.ops.start_test({"site": "hq", "zone": "hall-a"}, until=site.clock.at(3600),
                               note="", actor="ana")
    assert site.signal("detector_alarm", "sd-06") == []
    first = {d["device_id"]: d["first_alarm_at"] for d in site.ops.test(test.id)[1]}
    assert first["sd-06"] is not None


@BOTH
def test_a_shelved_alert_leaves_the_active_list_and_returns_at_expiry(engine: sa.Engine) -> None:
    site = make_site(engine)
    [alert_id] = site.signal("door_held_open", "door-01")
    shelving = site.ops.shelve(alert_id, until=site.clock.at(1800), note="known", actor="ana")
    shelved = site.incidents.get(alert_id)
    assert shelved.shelved_until is not None and shelved.next_escalation_at is None
    assert site.incidents.list(open_only=True, shelved=False)[1] == 0
    assert site.incidents.summary()["active_alerts"]["major"] == 1  # still counted
    site.clock.now += 1799
    site.ops.expire_due()
    assert site.incidents.get(alert_id).shelved_until is not None
    site.clock.now += 1
    site.ops.expire_due()
    back = site.incidents.get(alert_id)
    assert back.shelved_until is None and back.next_escalation_at is not None
    assert site.ops.shelving(shelving.id).ended_by == "system"
    assert site.incidents.timeline(alert_id)[-1].action == "unshelved"


def test_shelving_a_critical_or_life_safety_alert_is_refused(engine: sa.Engine) -> None:
    site = make_site(engine)
    [critical] = site.signal("door_forced", "door-01")
    [trouble] = site.signal("fire_trouble", "sd-06")[:1]
    for alert_id in (critical, trouble):
        with pytest.raises(InvalidField) as refused:
            site.ops.shelve(alert_id, until=site.clock.at(60), note="", actor="ana")
        assert refused.value.field == "incident_id"
    with pytest.raises(InvalidField):
        site.ops.shelve(critical, until=site.clock.at(86400 + 1), note="", actor="ana")
    assert site.ops.shelvings() == []
