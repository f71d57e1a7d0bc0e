"""The rules worker keeps what the incident database could not take, and applies it later."""

from __future__ import annotations

from devices.liveness import DeviceLiveness
from devices.reading import Reading
from rules.engine.evaluator import Evaluator
from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.engine.state import MemoryStateStore
from rules.engine.worker import RulesWorker
from rules.incidents.record import IncidentStoreUnavailable
from tests.ingest.helpers import small_registry

T0 = 1_800_000_000.0
PACK = parse_rules(
    """
- id: fire
  title: Fire
  description: Smoke detector alarm.
  kind: event
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, runbook: "Evacuate."}
""",
    "test",
)


class FlakyIncidents:
    """An incident service whose database is down for the first `down` calls."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.applied: list[Signal] = []

    def apply(self, signal: Signal) -> None:
        if self.down > 0:
            self.down -= 1
            raise IncidentStoreUnavailable("database is down")
        self.applied.append(signal)


def alarm(at: float) -> Reading:
    return Reading("hq", "sd-1", "event", at, at, kind="smoke_detector", zone="hall-a",
                   event="alarm")


def test_signals_the_database_refused_are_applied_in_order_once_it_is_back() -> None:
    registry = small_registry()
    incidents = FlakyIncidents(down=3)
    clock = iter(T0 + i for i in range(100))
    worker = RulesWorker(
        Evaluator(PACK, MemoryStateStore()), incidents,  # type: ignore[arg-type]
        DeviceLiveness(registry, T0), clock=lambda: next(clock),
    )
    worker.handle([alarm(T0 + 1)])  # refused: database down
    worker.handle([alarm(T0 + 2)])  # refused again; both wait, in order
    assert worker.pending == 2 and incidents.applied == []
    worker.tick()  # the third refusal
    worker.tick()  # back: both applied
    assert worker.pending == 0
    assert [s.at for s in incidents.applied] == [T0, T0 + 1]  # evaluated at those clocks
    assert worker.errors == 0


def test_past_its_bound_the_worker_refuses_and_counts_signals() -> None:
    incidents = FlakyIncidents(down=10**6)
    worker = RulesWorker(
        Evaluator(PACK, MemoryStateStore()), incidents,  # type: ignore[arg-type]
        DeviceLiveness(small_registry(), T0), clock=lambda: T0, pending_max=2,
    )
    worker.handle([alarm(T0), alarm(T0 + 1), alarm(T0 + 2)])
    assert (worker.pending, worker.refused) == (2, 1)
