"""The cost of the outbox on one alarm's path, in process, on a SQLite file (no broker).

For N fire alarms from N devices: (a) the rules worker's whole path, evaluate -> commit state
and signal to the outbox -> apply to incidents with the outbox mark; (b) the incident apply
alone, which is what the path was before the outbox. Milliseconds per alarm, p50/p99.

    .venv/bin/python -m bench.alarm_path [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common import percentile
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import load_registry
from rules.db.database import open_database
from rules.db.outbox import SqlSignalOutbox
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.signals import Signal
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService


def run(n: int = 300) -> dict[str, float]:
    """p50/p99 ms of the outbox path and of the bare apply, over `n` alarms each."""
    pack, registry = load_rules(None), load_registry(None)
    work = Path(tempfile.mkdtemp(prefix="sitewatch-alarm-path-"))
    engine = open_database(f"sqlite:///{work}/outbox.db")
    outbox = SqlSignalOutbox(engine)
    worker = RulesWorker(Evaluator(pack, outbox.states, batched=True),
                         IncidentService(engine, pack), DeviceLiveness(registry, time.time()),
                         outbox)
    bare = IncidentService(open_database(f"sqlite:///{work}/bare.db"), pack)
    path, alone = [], []
    for i in range(n):
        now = time.time()
        alarm = Reading("hq", f"up-{i}", "event", now, now, seq=1, event="fire_alarm")
        t = time.perf_counter()
        worker.handle_life_safety([alarm])
        path.append((time.perf_counter() - t) * 1000)
        sig = Signal("unregistered_fire_alarm", "fire", "hq", f"up-{i}", now, message="x")
        t = time.perf_counter()
        bare.apply(sig)
        alone.append((time.perf_counter() - t) * 1000)
    return {
        "alarms": n,
        "outbox_path_p50_ms": round(percentile(path, 50), 2),
        "outbox_path_p99_ms": round(percentile(path, 99), 2),
        "apply_alone_p50_ms": round(percentile(alone, 50), 2),
        "apply_alone_p99_ms": round(percentile(alone, 99), 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 300), indent=2))
