"""The cost of one fire alarm on the rules worker's life-safety path, as `serve` builds it.

In process, SQLite file, no broker: the operations gate installed (disablements, tests,
grouping), 250 registered fire panels in one zone (as bench/alert_latency.py registers them,
so each alert after the first joins the first one's group), one `fire_alarm` each through
`RulesWorker.handle_life_safety`. Per alarm: wall ms, CPU ms of the calling thread
(`time.thread_time`, which a loaded machine disturbs far less than wall time) and SQL
statements sent.

    .venv/bin/python -m bench.alarm_cost [N]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import percentile
from bench.loadgen import registry_yaml
from devices.liveness import DeviceLiveness
from devices.reading import Reading
from devices.registry import load_registry
from rules.db.database import open_database
from rules.db.outbox import SqlSignalOutbox
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.worker import RulesWorker
from rules.incidents.service import IncidentService
from rules.operations.plans import load_plans
from rules.operations.service import Operations


def run(n: int = 250) -> dict[str, Any]:
    """p50/p99 wall and CPU ms, and statements, per alarm over `n` fire panels."""
    work = Path(tempfile.mkdtemp(prefix="sitewatch-alarm-cost-"))
    panels = [f"fp-{i:03d}" for i in range(n)]
    (work / "devices.yaml").write_text(
        registry_yaml(2000, "hq", [(p, "fire_panel") for p in panels]))
    registry, pack = load_registry(work / "devices.yaml"), load_rules(None)
    engine = open_database(f"sqlite:///{work}/sitewatch.db")
    sent = [0]

    def count(*_: Any) -> None:
        sent[0] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    incidents = IncidentService(engine, pack, registry=registry)
    Operations(engine, incidents, registry, pack, load_plans(None)).install()
    outbox = SqlSignalOutbox(engine)
    worker = RulesWorker(Evaluator(pack, outbox.states, batched=True), incidents,
                         DeviceLiveness(registry, time.time()), outbox)
    worker.tick()  # what a start does first: nothing waits in the outbox afterwards
    wall, cpu, statements = [], [], []
    for panel in panels:
        now = time.time()
        alarm = Reading("hq", panel, "event", now, now, seq=1, kind="fire_panel", zone="z00",
                        event="fire_alarm")
        before, t, c = sent[0], time.perf_counter(), time.thread_time()
        worker.handle_life_safety([alarm])
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
        statements.append(sent[0] - before)
    return {
        "alarms": n,
        "wall_p50_ms": round(percentile(wall, 50), 2),
        "wall_p99_ms": round(percentile(wall, 99), 2),
        "cpu_p50_ms": round(percentile(cpu, 50), 2),
        "cpu_mean_ms": round(sum(cpu) / n, 2),
        "statements_per_alarm": round(sum(statements) / n, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 250), indent=2))
