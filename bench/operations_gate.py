"""What operations (disablement, test, grouping checks) add to the rules path per reading.

Run: .venv/bin/python bench/operations_gate.py [N]   (N readings, default 100000)

The checks run per signal inside IncidentService.apply, never per reading: the evaluator is
untouched. This times (1) the evaluator over bench/rules_eval.py's feed, (2) applying each
kind of signal to a SQLite incident database without and with the gate installed (a
disablement and a walk test in force elsewhere, so the gate's queries have rows to skip),
and reports the gate's extra cost per signal and, at the feed's signal rate, per reading.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.rules_eval import readings
from devices.registry import load_registry
from rules.db.database import open_database
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.signals import Signal
from rules.engine.state import MemoryStateStore
from rules.incidents.service import IncidentService
from rules.operations.plans import load_plans
from rules.operations.service import Operations

ROUNDS = 5  # timed rounds per case; the median is reported (the machine is shared)


def _service(folder: Path, gate: bool) -> IncidentService:
    engine = open_database(f"sqlite:///{folder / ('gate' if gate else 'plain')}.db")
    pack = load_rules()
    service = IncidentService(engine, pack)
    if gate:
        ops = Operations(engine, service, load_registry(), pack, load_plans(None)).install()
        until = datetime.now(UTC) + timedelta(days=1)
        ops.disable({"site": "hq", "zone": "office-2"}, reason="bench", until=until,
                    actor="bench", role="admin")
        ops.start_test({"site": "hq", "zone": "hall-b"}, until=until, note="", actor="bench")
    return service


def _per_signal(service: IncidentService, make: Callable[[int], Signal], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        service.apply(make(i))
    return (time.perf_counter() - start) * 1e6 / n


def main() -> None:
    """Print evaluator cost per reading and the gate's cost per signal and per reading."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    registry, pack, feed = load_registry(), load_rules(), readings(n)
    evaluator = Evaluator(pack, MemoryStateStore(), lambda d: 30.0)
    evaluator.watch_registry(registry, feed[0][0])
    signals = 0
    start = time.perf_counter()
    for now, reading in feed:
        signals += len(evaluator.evaluate(reading, now))
    evaluate_us = (time.perf_counter() - start) * 1e6 / n

    now = time.time()
    cases = {  # a repeat bumps an open incident; an open inserts one (and groups it)
        "repeat": lambda i: Signal("door_forced", "fire", "hq", "door-01", now + i, "reception",
                                   "door", None, "bench"),
        "open": lambda i: Signal("door_forced", "fire", "hq", f"x-{i}", now + i, "reception",
                                 "door", None, "bench"),
    }
    results: dict[str, dict[bool, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in cases.items():
            results[name] = {}
            for gate in (False, True):
                rounds = []
                for r in range(ROUNDS):
                    folder = Path(tmp) / f"{name}-{gate}-{r}"
                    folder.mkdir()
                    service = _service(folder, gate)
                    rounds.append(_per_signal(service, make, 300))
                results[name][gate] = statistics.median(rounds)
    print(f"readings: {n}, signals from the feed: {signals} "
          f"({signals / n * 1e3:.3f} per 1000 readings)")
    print(f"evaluate: {evaluate_us:.2f} us/reading (unchanged code: the gate is not in it)")
    for name, by_gate in results.items():
        extra = by_gate[True] - by_gate[False]
        print(f"apply {name}: {by_gate[False]:.0f} us/signal plain, {by_gate[True]:.0f} us with "
              f"the gate: +{extra:.0f} us/signal = +{extra * signals / n:.3f} us/reading at "
              f"the feed's rate")


if __name__ == "__main__":
    main()
