"""One open incident per (rule, device) under racing writers and across restarts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from rules.db.database import open_database
from rules.db.schema import incident_timeline
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from tests.databases import DATABASES, migrated_sqlite
from tests.rules.test_incidents import PACK_YAML, T0, fire

THREADS = 16
FIRES_PER_THREAD = 25


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file or a fresh real PostgreSQL database, both at the newest revision."""
    if request.param == "sqlite":
        migrated_sqlite(tmp_path / "var" / "sitewatch.db").dispose()  # a copy of the template
        return f"sqlite:///{tmp_path / 'var' / 'sitewatch.db'}"
    return str(request.getfixturevalue("pg_migrated_url"))


@pytest.mark.slow
def test_racing_threads_firing_one_rule_and_device_end_with_one_open_incident(
    db_url: str,
) -> None:
    engine = open_database(db_url)
    svc = IncidentService(engine, parse_rules(PACK_YAML), clock=lambda: T0)
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(FIRES_PER_THREAD):
                svc.apply(fire("fire-alarm", "panel-1", at=T0 + n + i / 100))
        except BaseException as exc:  # reported below: a thread's error must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert failures == []
        incidents, total = svc.list()
        assert total == 1
        (alert,) = incidents
        assert alert.state == "active" and alert.occurrences == THREADS * FIRES_PER_THREAD
        timeline = svc.timeline(alert.id)
        assert [e.action for e in timeline].count("opened") == 1
        assert len(timeline) == THREADS * FIRES_PER_THREAD
        with engine.connect() as conn:
            entries = conn.execute(sa.select(sa.func.count()).select_from(incident_timeline))
            assert entries.scalar_one() == THREADS * FIRES_PER_THREAD
    finally:
        engine.dispose()


def test_after_a_restart_the_open_incident_is_found_and_a_new_fire_bumps_it(
    db_url: str,
) -> None:
    pack = parse_rules(PACK_YAML)
    before = open_database(db_url)
    first = IncidentService(before, pack, clock=lambda: T0)
    alert_id = first.apply(fire("fire-alarm", "panel-1"))[0].incident_id
    ticket_id = first.apply(fire("detector-trouble", "sd-1"))[0].incident_id
    before.dispose()  # the process stops

    after = open_database(db_url)  # the process starts again: migrations run once more
    try:
        second = IncidentService(after, pack, clock=lambda: T0 + 600)
        (repeat,) = second.apply(fire("fire-alarm", "panel-1", at=T0 + 600))
        assert (repeat.incident_id, repeat.action) == (alert_id, "repeated")
        alert = second.get(alert_id)
        assert alert.occurrences == 2 and alert.opened_at.timestamp() == T0
        # The escalation timer kept its due time across the restart.
        assert alert.next_escalation_at is not None
        assert alert.next_escalation_at.timestamp() == T0 + 300
        assert [e.incident_id for e in second.escalate_due()] == [alert_id]
        second.apply(fire("detector-trouble", "sd-1", at=T0 + 600))
        assert second.list(kind="alert")[1] == 2 and second.list(kind="ticket")[1] == 1
        assert second.get(ticket_id).occurrences == 2
    finally:
        after.dispose()


def test_the_database_refuses_a_second_open_incident_for_one_rule_and_device(
    db_url: str,
) -> None:
    engine = open_database(db_url)
    svc = IncidentService(engine, parse_rules(PACK_YAML), clock=lambda: T0)
    signal = fire("fire-alarm", "panel-1")
    alert_id = svc.apply(signal)[0].incident_id
    key = {"id": alert_id, "open_key": f"fire-alarm|{signal.unit}"}
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO incidents {_COPY}"), key)
        svc.transition(alert_id, "resolve", actor="guard")
        with engine.begin() as conn:  # once resolved, the key is free for the next one
            conn.execute(sa.text(f"INSERT INTO incidents {_COPY}"), key)
        assert svc.list()[1] == 2
    finally:
        engine.dispose()


_COPY = (
    "(kind, rule_id, title, description, department, severity, state, latching, auto_resolve,"
    " occurrences, opened_at, last_seen_at, opened_by, open_key)"
    " SELECT kind, rule_id, title, description, department, severity, 'active', latching,"
    " auto_resolve, 1, opened_at, last_seen_at, opened_by, :open_key"
    " FROM incidents WHERE id = :id"
)
