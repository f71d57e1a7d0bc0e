"""Silences, walk tests, groups, windows and emergencies as notifications see them, and the
plans, groups and resolution-code reports behind them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from rules.db.schema import deliveries
from rules.notify.dispatcher import Notifier
from rules.notify.routes import Route
from rules.operations.errors import InvalidField, UnknownTarget
from rules.operations.plans import BUILT_IN, LANGUAGES, PlanConfigError, load_plans, parse_plans
from rules.operations.resolution import false_alarm_rates
from tests.databases import DATABASES
from tests.rules.operations_helpers import Site, make_site

BOTH = pytest.mark.parametrize("engine", DATABASES, indirect=True)


def _route(name: str, **kw: object) -> Route:
    return Route(name=name, channel="webhook", url="http://127.0.0.1:9/hook", secret="s", **kw)


def _notifier(site: Site, *routes: Route) -> Notifier:
    return Notifier(site.engine, site.incidents, routes,
                    verdict=site.ops.notifications.verdict, clock=site.clock)


def _sent(site: Site, notifier: Notifier, incident_id: int) -> dict[tuple[str, str], str]:
    """(route, action) -> delivery status, after the notifier saw every change so far."""
    notifier.process(site.incidents.changes_since(0, 500))
    with site.engine.connect() as conn:
        found = conn.execute(sa.select(deliveries.c.route, deliveries.c.action,
                                       deliveries.c.status)
                             .where(deliveries.c.incident_id == incident_id)).all()
    return {(r.route, r.action): r.status for r in found}


@BOTH
def test_a_silence_stops_a_route_but_not_the_incident_and_never_a_critical_alert(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    notifier = _notifier(site, _route("guards"))
    silence = site.ops.silence({"site": "hq", "device_id": "door-01"},
                               until=site.clock.at(3600), comment="door being fixed",
                               actor="ana")
    [held] = site.signal("door_held_open", "door-01")
    forced = max(site.signal("door_forced", "door-01"))  # joins the held door's group
    assert site.incidents.get(held).state == "active"  # opens and shows as usual
    assert _sent(site, notifier, held) == {("guards", "opened"): "muted",
                                           ("guards", "grouped"): "muted"}
    assert _sent(site, notifier, forced) == {("guards", "opened"): "pending"}
    site.ops.end_silence(silence.id, actor="ana")
    site.clock.now += 1
    site.signal("door_held_open", "door-02")
    [again] = [i.id for i in site.open_of("door_held_open", "door-02")]
    assert _sent(site, notifier, again) == {("guards", "opened"): "pending"}


def test_silences_need_a_known_matcher_and_a_comment(engine: sa.Engine) -> None:
    site = make_site(engine)
    with pytest.raises(InvalidField) as none:
        site.ops.silence({}, until=site.clock.at(60), comment="x", actor="a")
    with pytest.raises(UnknownTarget):
        site.ops.silence({"rule": "no_such_rule"}, until=site.clock.at(60), comment="x",
                         actor="a")
    with pytest.raises(InvalidField) as comment:
        site.ops.silence({"site": "hq"}, until=site.clock.at(60), comment="", actor="a")
    assert (none.value.field, comment.value.field) == ("matchers", "comment")


def test_test_alerts_notify_only_routes_that_ask_for_tests(engine: sa.Engine) -> None:
    site = make_site(engine)
    notifier = _notifier(site, _route("guards"), _route("test-log", tests=True))
    site.ops.start_test({"site": "hq", "device_id": "sd-06"}, until=site.clock.at(600),
                        note="", actor="ana")
    [alert] = site.signal("detector_alarm", "sd-06")
    assert _sent(site, notifier, alert) == {("guards", "opened"): "muted",
                                            ("test-log", "opened"): "pending"}


@BOTH
def test_one_smoke_event_is_one_group_and_one_group_acknowledge(engine: sa.Engine) -> None:
    site = make_site(engine)
    notifier = _notifier(site, _route("guards"))
    [head] = site.signal("detector_alarm", "sd-06")
    site.clock.now += 20
    smoke = max(site.signal("smoke_obscuration", "sd-06"))  # the head gets a "grouped" entry
    site.clock.now += 20
    panel = max(site.signal("fire_alarm", "fp-01"))
    site.clock.now += 400  # past 5 minutes: a new alert of the zone starts its own group
    [late] = site.signal("detector_alarm", "sd-07")
    assert [site.incidents.get(i).group_id for i in (head, smoke, panel, late)] == [
        head, head, head, late]
    assert [m.id for m in site.ops.members(site.incidents.get(head))] == [smoke, panel]
    assert site.ops.summary()["alert_groups"] == {"alerts": 4, "groups": 2}
    assert _sent(site, notifier, smoke) == {("guards", "opened"): "muted"}  # folded
    assert _sent(site, notifier, head)[("guards", "grouped")] == "pending"
    site.ops.acknowledge_group(head, actor="ana", note="on my way")
    assert [site.incidents.get(i).state for i in (head, smoke, panel, late)] == [
        "acknowledged", "acknowledged", "acknowledged", "active"]
    assert [e.action for e in site.incidents.timeline(panel)][-1] == "acknowledged"


@BOTH
def test_a_window_delays_sla_clocks_and_never_touches_alerts(engine: sa.Engine) -> None:
    site = make_site(engine)
    window = site.ops.plan_window({"site": "hq", "zone": "reception"}, start=site.clock.at(0),
                                  end=site.clock.at(7200), note="HVAC overhaul", actor="tech")
    ticket = site.incidents.open_ticket(title="Draught", description="", department="maintenance",
                                        priority="P3", actor="tech", site="hq", zone="reception")
    assert ticket.window_id == window.id
    assert ticket.respond_by == site.clock.at(7200) + timedelta(hours=4)
    [alert] = site.signal("door_forced", "door-01")
    touched = site.incidents.get(alert)
    assert (touched.window_id, touched.next_escalation_at is not None) == (None, True)
    ended = site.ops.end_window(window.id, actor="tech")
    assert ended.ended_by == "tech" and ended.end == site.clock.at(0)
    later = site.incidents.open_ticket(title="Draught 2", description="",
                                       department="maintenance", priority="P3", actor="tech",
                                       site="hq", zone="reception")
    assert later.window_id is None


def test_an_emergency_is_a_critical_alert_with_the_plan_sent_to_every_route(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    notifier = _notifier(site, _route("guards", kinds=["alert"]),
                         _route("technicians", kinds=["ticket"], departments=["maintenance"]))
    alert = site.ops.declare("earthquake", {"site": "hq"}, note="strong shaking",
                             actor="ana", language="zh-Hant")
    assert (alert.severity, alert.plan, alert.opened_by) == ("critical", "earthquake", "ana")
    assert "地震" in (alert.runbook or "") and "[maintenance]" in (alert.runbook or "")
    assert _sent(site, notifier, alert.id) == {("guards", "opened"): "pending",
                                               ("technicians", "opened"): "pending"}
    with pytest.raises(UnknownTarget):
        site.ops.declare("alien_invasion", {"site": "hq"}, note="", actor="ana")


def test_the_built_in_plans_cover_the_seven_emergencies_in_three_languages() -> None:
    plans = load_plans(None)
    assert tuple(plans) == BUILT_IN
    for plan in plans.values():
        for language in LANGUAGES:
            assert plan.title.get(language)
            for steps in plan.checklist.values():
                assert len(steps.get(language)) == len(steps.get("en"))
    assert plans["fire"].checklist["security"].get("zh-Hans")[0].startswith("致电消防队")


def test_a_plans_file_with_mismatched_steps_is_refused_naming_the_field() -> None:
    bad = ("plans:\n  x:\n    title: {en: X}\n    checklist:\n"
           "      security: {en: [a, b], zh-Hant: [甲]}\n")
    with pytest.raises(PlanConfigError, match="plans.x.checklist.security"):
        parse_plans(bad, "p.yaml")


def test_false_and_unwanted_alarms_are_counted_per_device_and_per_100_devices_per_year(
    engine: sa.Engine,
) -> None:
    site = make_site(engine)
    codes = {"sd-06": "false_alarm", "sd-07": "unwanted", "hd-01": "real"}
    for device, code in codes.items():
        [alert] = site.signal("detector_alarm" if device != "hd-01" else "heat_fixed", device)
        site.incidents.transition(alert, "resolve", actor="ana", code=code)
    with engine.connect() as conn:
        report = false_alarm_rates(conn, site.clock.at(-86400 * 365 / 2), site.clock.at(1), 50)
    assert (report["false_alarms"], report["unwanted_alarms"]) == (1, 1)
    assert report["per_100_devices_per_year"]["both"] == pytest.approx(8.0, rel=0.01)
    assert {r["device_id"] for r in report["by_device"]} == {"sd-06", "sd-07"}
