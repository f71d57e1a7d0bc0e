"""The stream is the commit-ordered change feed: with writers committing concurrently (and
slowly), a reader that keeps resuming with Last-Event-ID gets every change exactly once, in
commit order, with no gap, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from api.broadcast import IncidentBroadcaster
from rules.db.database import open_database
from rules.db.schema import incident_timeline
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from tests.databases import DATABASES, migrated_sqlite

WRITERS = 6
CHANGES_PER_WRITER = 30  # each: a ticket opened, then commented (2 timeline entries)
SLOW_COMMIT_S = 0.01  # upper bound of the delay injected between a timeline insert and commit
# Six writer threads against a resuming reader for 4-8 s: a stress run for the full suite; the
# fast loop keeps test_stream.py's resume-with-Last-Event-ID test.
pytestmark = pytest.mark.slow


@pytest.fixture(params=DATABASES)
def engine(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A migrated incident database of each kind."""
    eng = (migrated_sqlite(tmp_path / "sw.db") if request.param == "sqlite"
           else open_database(request.getfixturevalue("pg_migrated_url")))
    yield eng
    eng.dispose()


def slow_commits(engine: sa.Engine) -> None:
    """A fault at the database connection: after each timeline insert, wait a little before
    going on to commit, so concurrent transactions interleave their ids and commits."""

    @event.listens_for(engine, "after_cursor_execute")
    def _pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INCIDENT_TIMELINE"):
            time.sleep(random.uniform(0, SLOW_COMMIT_S))


def write_changes(service: IncidentService, writer: int, errors: list[BaseException]) -> None:
    try:
        for i in range(CHANGES_PER_WRITER):
            ticket = service.open_ticket(
                title=f"w{writer} #{i}", description="", department="maintenance",
                priority="P3", actor=f"writer-{writer}",
            )
            service.transition(ticket.id, "comment", actor=f"writer-{writer}", note="seen")
    except BaseException as e:  # noqa: BLE001 - reported by the test
        errors.append(e)


async def read_resuming(
    broadcaster: IncidentBroadcaster, done: threading.Event, head: Any
) -> tuple[list[int], int]:
    """Read frames, hanging up after a random few and resuming from the last id, until the
    writers are done and the feed's head was reached; returns ids seen and reconnections."""
    seen: list[int] = []
    last, reconnects = 0, 0
    while True:
        events = broadcaster.events(last, heartbeat_s=0.2)
        budget = random.randint(1, 25)
        idle = False
        try:
            async for text in events:
                if text.startswith("id: "):
                    frame_id = int(text.split("\n", 1)[0][4:])
                    seen.append(frame_id)
                    last = frame_id
                    budget -= 1
                    if budget == 0:
                        break
                elif text.startswith(": keepalive"):
                    idle = True
                    break
        finally:
            await events.aclose()
        if idle and done.is_set() and last == await asyncio.to_thread(head):
            return seen, reconnects
        reconnects += 1


def test_concurrent_writers_reach_a_resuming_reader_exactly_once_in_commit_order(
    engine: sa.Engine,
) -> None:
    service = IncidentService(engine, parse_rules("[]"))
    slow_commits(engine)
    errors: list[BaseException] = []
    done = threading.Event()

    async def scenario() -> tuple[list[int], int]:
        broadcaster = IncidentBroadcaster(service, poll_s=0.2)
        service.subscribe(broadcaster.publish)
        await broadcaster.start()
        writers = [
            threading.Thread(target=write_changes, args=(service, w, errors))
            for w in range(WRITERS)
        ]
        for thread in writers:
            thread.start()

        def join() -> None:
            for thread in writers:
                thread.join(120)
            done.set()

        joiner = asyncio.create_task(asyncio.to_thread(join))
        try:
            return await asyncio.wait_for(
                read_resuming(broadcaster, done, service.last_change_id), 180
            )
        finally:
            await joiner
            await broadcaster.stop()

    began = time.monotonic()
    seen, reconnects = asyncio.run(scenario())
    print(f"\n{engine.dialect.name}: {len(seen)} changes from {WRITERS} writers, "
          f"{reconnects} resumes, {time.monotonic() - began:.1f} s")
    assert not errors
    with engine.connect() as conn:
        committed = list(conn.scalars(sa.select(incident_timeline.c.id).order_by("id")))
    assert len(committed) == WRITERS * CHANGES_PER_WRITER * 2
    assert seen == committed  # every change, exactly once, in commit (= id) order
    assert reconnects >= 10  # the reader really resumed many times, mid-stream
