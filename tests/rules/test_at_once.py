"""The life-safety lane commits rule state, the outbox row and the incident in one transaction
(rules/engine/at_once.py): a crash anywhere opens the alarm's incident once, never twice,
never not at all, and an apply that raises falls back to the outbox path."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import load_registry
from rules.db.database import open_database
from rules.db.outbox import SqlSignalOutbox
from rules.db.schema import incidents, signal_outbox
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService
from tests.databases import DATABASES
from tests.rules.test_notify import wait_until
from tests.servers import stop_process

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0
PACK, REGISTRY = load_rules(None), load_registry(None)
ALARM = Reading("hq", "fp-01", "event", T0, T0, seq=1, kind="fire_panel", zone="plant",
                event="fire_alarm")


class Stack:
    """A rules worker over one database, built as `sitewatch serve` builds it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.outbox = SqlSignalOutbox(engine)
        self.incidents = IncidentService(engine, PACK, registry=REGISTRY)
        self.worker = RulesWorker(Evaluator(PACK, self.outbox.states, batched=True),
                                  self.incidents, DeviceLiveness(REGISTRY, T0), self.outbox)

    def written(self) -> tuple[list[int], list[bool]]:
        """(occurrences of every incident of fp-01, whether each outbox row is applied)."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(incidents.c.occurrences)
                                 .where(incidents.c.device_id == "fp-01")).scalars().all()
            rows = conn.execute(sa.select(signal_outbox.c.applied_at)).scalars().all()
        return list(found), [at is not None for at in rows]


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_migrated_url"))
    open_database(f"sqlite:///{tmp_path / 'sw.db'}").dispose()
    return f"sqlite:///{tmp_path / 'sw.db'}"


@pytest.fixture
def stack(url: str) -> Iterator[Stack]:
    engine = open_database(url)
    yield Stack(engine)
    engine.dispose()


def test_a_first_alarm_is_applied_in_the_transaction_that_commits_it(stack: Stack) -> None:
    stack.worker.tick()  # drains what may wait from before a start: the lane takes one commit
    stack.worker.handle_life_safety([ALARM])
    assert stack.written() == ([1], [True])
    assert stack.worker.applied == 1 and stack.worker.health()["pending_signals"] == 0


@pytest.mark.slow  # a second Python process that imports the service and is killed: ~2 s
def test_kill_9_inside_the_commit_leaves_nothing_and_the_redo_opens_the_alarm_once(
    stack: Stack, url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "inside"
    child = subprocess.Popen([sys.executable, "-m", "tests.rules.at_once_child", url,
                              str(marker)], cwd=ROOT)
    try:
        wait_until(marker.exists, timeout=60)  # inside its one transaction, incident written
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        stop_process(child)
    assert stack.written() == ([], [])  # all or nothing: no incident, no outbox row
    stack.worker.tick()
    stack.worker.handle_life_safety([ALARM])  # the log cursor never moved: the batch again
    assert stack.written() == ([1], [True]) and stack.worker.applied == 1
    # A crash after the commit, before the log cursor moved: the batch comes back once more,
    # its key is in the outbox already and nothing is applied twice.
    again = Stack(stack.engine)
    again.worker.tick()
    again.worker.handle_life_safety([ALARM])
    assert again.written() == ([1], [True])
    assert again.worker.applied == 0 and again.worker.health()["pending_signals"] == 0


def test_an_apply_that_raises_falls_back_to_the_outbox_and_opens_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = IncidentService.apply_in
    calls = []

    def fails_first(self: IncidentService, *args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bug on the way")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(IncidentService, "apply_in", fails_first)
    stack.worker.tick()
    stack.worker.handle_life_safety([ALARM])
    assert stack.written() == ([1], [True])  # committed alone, then applied from the outbox
    assert len(calls) == 2 and stack.worker.applied == 1
