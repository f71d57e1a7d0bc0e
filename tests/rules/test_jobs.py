"""Jobs: plain callables of `now` on an APScheduler BackgroundScheduler; failures counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from api.jobs import Job, Jobs, scheduled_work
from devices.registry import Device, Registry
from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from rules.maintenance.config import parse_schedules
from rules.maintenance.schedules import PreventiveMaintenance
from tests.rules.packs import FIRE_ALARM

T0 = 1_795_773_600.0  # 2026-11-27 10:00:00 UTC


def test_run_all_hands_every_job_the_same_now_and_counts_a_failure_without_stopping() -> None:
    seen: list[tuple[str, float]] = []

    def broken(now: float) -> None:
        raise RuntimeError("boom")

    jobs = Jobs([
        Job("a", lambda now: seen.append(("a", now)), 5),
        Job("broken", broken, 5),
        Job("b", lambda now: seen.append(("b", now)), 5),
    ])
    jobs.run_all(now=T0)
    assert seen == [("a", T0), ("b", T0)]
    assert jobs.failures == {"a": 0, "broken": 1, "b": 0}
    assert jobs.runs == {"a": 1, "broken": 0, "b": 1}


def test_job_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Jobs([Job("a", lambda now: None, 1), Job("a", lambda now: None, 1)])


def test_started_jobs_run_at_once_and_then_at_their_interval_until_shutdown() -> None:
    calls: list[float] = []
    enough = threading.Event()

    def work(now: float) -> None:
        calls.append(now)
        if len(calls) >= 3:
            enough.set()

    jobs = Jobs([Job("tick", work, every_s=0.05)], clock=lambda: T0)
    before = set(threading.enumerate())
    jobs.start()
    try:
        assert enough.wait(10), "the job did not run three times"
    finally:
        jobs.shutdown()
    settled = len(calls)
    # No run may follow a shutdown: the scheduler's and its workers' threads are gone, so
    # nothing is left that could call the job (a sleep would only sample a loaded machine).
    assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []
    assert len(calls) == settled and calls[0] == T0


def test_started_jobs_first_run_spread_over_a_second_so_they_never_fire_together() -> None:
    first: dict[str, float] = {}
    done = threading.Event()

    def work(name: str) -> Callable[[float], None]:
        def run(now: float) -> None:
            first.setdefault(name, time.monotonic())
            if len(first) == 4:
                done.set()
        return run

    jobs = Jobs([Job(name, work(name), every_s=1.0) for name in "abcd"])
    started = time.monotonic()
    jobs.start()
    try:
        assert done.wait(10), first
    finally:
        jobs.shutdown()
    # each at its own phase (a quarter of a second apart), never before it: a late run is a
    # loaded machine, an early one would be the burst this spreading avoids
    for n, name in enumerate("abcd"):
        assert first[name] - started >= n / 4 - 0.02, (name, first[name] - started)


def test_standard_jobs_escalate_flag_breaches_and_open_scheduled_tickets(
    engine: sa.Engine,
) -> None:
    service = IncidentService(engine, parse_rules(FIRE_ALARM), clock=lambda: T0)
    registry = Registry.from_devices([Device(id="fp-1", kind="fire_panel", site="hq", zone="p")])
    pm = PreventiveMaintenance(
        engine, service,
        parse_schedules('schedules: [{id: daily, title: Daily round, cron: "0 8 * * *"}]'),
        registry, clock=lambda: T0,
    )
    changes: list[str] = []
    service.subscribe(lambda entries: changes.extend(e.action for e in entries))
    alert = service.apply(Signal("fire-alarm", "fire", "hq", "sd-1", T0))[0].incident_id
    service.open_ticket(title="Leak", description="", department="maintenance", priority="P1",
                        actor="test", site="hq")
    jobs = Jobs(scheduled_work(service, maintenance=pm))
    jobs.run_all(now=T0)  # nothing due yet; the schedule takes its baseline
    assert changes == ["opened", "opened"]
    jobs.run_all(now=T0 + 86400)  # a day later: escalation, breaches, the 08:00 round
    assert service.get(alert).escalation_level == 1
    assert changes.count("sla_breached") == 2  # respond and resolve, once each
    # the alert once, the breached ticket once per missed deadline
    assert changes.count("escalated") == 3 and changes.count("opened") == 3
    before = len(changes)
    jobs.run_all(now=T0 + 86400)  # the same instant again: nothing new
    assert len(changes) == before
    assert all(n == 0 for n in jobs.failures.values())
