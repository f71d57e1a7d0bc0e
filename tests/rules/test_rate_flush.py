"""Rate-window samples (saved so a window spans a restart) are flushed every LAZY_FLUSH_S spread
over the next telemetry commits, LAZY_CHUNK at a time, never in a fire alarm's commit: one
commit of every device's samples held the rules lock, and an alarm, for 75-150 ms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import load_registry
from rules.db.outbox import KeyedSignal, SqlSignalOutbox
from rules.db.schema import rule_state
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.state import RuleState, StateKey
from rules.engine.worker import LAZY_CHUNK, LAZY_FLUSH_S, RulesWorker
from rules.incidents.service import IncidentService

T0 = 1_800_000_000.0
PACK, REGISTRY = load_rules(None), load_registry(None)


class CountingOutbox(SqlSignalOutbox):
    """The outbox, noting how many states each commit wrote."""

    sizes: list[int]

    def commit(self, states: Mapping[StateKey, RuleState | None],
               signals: Sequence[KeyedSignal]) -> None:
        self.sizes.append(len(states))
        super().commit(states, signals)


def heat(device: str, at: float, celsius: float) -> Reading:
    return Reading("hq", device, "telemetry", at, at, seq=int(at - T0), kind="heat_detector",
                   zone="kitchen", metrics={"temperature_c": celsius})


def test_a_due_flush_goes_out_in_chunks_with_the_next_commits_and_not_with_an_alarm(
    engine: sa.Engine,
) -> None:
    now = [T0]
    outbox = CountingOutbox(engine, clock=lambda: now[0])
    outbox.sizes = []
    worker = RulesWorker(Evaluator(PACK, outbox.states, batched=True),
                         IncidentService(engine, PACK, clock=lambda: now[0]),
                         DeviceLiveness(REGISTRY, T0), outbox, clock=lambda: now[0])
    devices = [f"hd-x{i:03d}" for i in range(2 * LAZY_CHUNK + 10)]
    worker.handle([heat(d, T0, 20.0) for d in devices])
    worker.handle([heat(d, T0 + 1, 20.5) for d in devices])
    assert worker_samples(worker) >= len(devices) and saved(engine) == 0  # not due yet
    now[0] += LAZY_FLUSH_S
    outbox.sizes.clear()
    alarm = Reading("hq", "fp-01", "event", now[0], now[0], seq=1, kind="fire_panel",
                    zone="plant", event="fire_alarm")
    worker.handle_life_safety([alarm])  # due, but an alarm's commit carries no sample
    assert sum(outbox.sizes) <= 1 and saved(engine) == 0
    outbox.sizes.clear()
    for i in range(4):
        worker.handle([heat("hd-x000", now[0] + i, 20.5)])
    assert len(outbox.sizes) == 4
    assert all(0 < n <= LAZY_CHUNK for n in outbox.sizes[:3])
    assert outbox.sizes[3] == 0  # the flush is over: the next waits LAZY_FLUSH_S again
    assert saved(engine) >= len(devices)  # every window's samples: a restart starts from them


def worker_samples(worker: RulesWorker) -> int:
    return worker._evaluator.lazy_waiting()  # noqa: SLF001 - what waits in memory


def saved(engine: sa.Engine) -> int:
    """Rule-state rows of the test's heat detectors."""
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(rule_state)
                               .where(rule_state.c.device_id.like("hd-x%"))) or 0)
