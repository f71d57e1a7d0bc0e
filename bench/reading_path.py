"""CPU per reading of the reading path in process, by stage, this tree against a base revision.

    .venv/bin/python -m bench.reading_path [--base REV] [--pairs 3] [--devices 2000] [--per 30]

No broker and no InfluxDB: what `sitewatch serve` does per reading between paho's thread and
the network, timed with the process's CPU clock, so a change of a few per cent shows where the
end-to-end benchmarks (bench/queued_drain.py, bench/workers.py) move more than that from run to
run. Stages:
- `writer`: `IngestPipeline._process` on batches of 1,000 messages as paho hands them over
  (decode, caps, encode, the durable log's append; the ack is a no-op);
- `store`: the log read, then the line protocol the InfluxDB stores send;
- `rules`: the log read, then liveness and `Evaluator.evaluate` with the built-in rules.

The consumers read after the writer has logged everything, as in a queued drain, so rows past
the log's decoded cache are decoded again. With `--base`, `git archive REV` is unpacked into a
temporary folder and runs of the base and of this tree alternate (base first), each a
subprocess importing its own tree. Prints one JSON line per run and the median of each side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT

# Runs inside the tree under test, with only what the base revision has too.
_RUN = """
import gc, json, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from bench.loadgen import registry_yaml, split
from devices.liveness import DeviceLiveness
from devices.registry import parse_registry
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.log import ReadingLog
from ingest.mqtt import Delivery
from ingest.pipeline import IngestPipeline
from ingest.stores.lineprotocol import to_lines
from rules.engine.evaluator import Evaluator
from rules.engine.loader import load_rules
from rules.engine.state import MemoryStateStore

devices, per = int(sys.argv[1]), int(sys.argv[2])
registry = parse_registry(registry_yaml(devices, "hq"))
now = time.time()
messages = split("hq", devices, 1)[0].telemetry("sw", per)
batch = [Delivery(t, p, i % 65535 + 1, 1, 1, now, False, False)
         for i, (t, p) in enumerate(messages)]
cpu = {"writer": 0.0, "store": 0.0, "rules": 0.0}
with tempfile.TemporaryDirectory() as tmp:
    log = ReadingLog(Path(tmp) / "log.sqlite3")
    pipe = IngestPipeline("mqtt://127.0.0.1:1", "bench", "sw", registry, log, IngestCounters(),
                          DeadLetters(100), len(batch))
    pipe.session.ack_all = len
    log.register("store")
    log.register("rules")
    evaluator = Evaluator(load_rules(), MemoryStateStore(), lambda device_id: 60.0)
    evaluator.watch_registry(registry, now)
    liveness = DeviceLiveness(registry, now)
    gc.collect()
    gc.freeze()
    for lead in range(0, len(batch), 1000):
        c0 = time.process_time()
        pipe._process(batch[lead:lead + 1000])
        cpu["writer"] += time.process_time() - c0
    for name in ("store", "rules"):
        while True:
            c0 = time.process_time()
            rows = log.read(name, 1000, 0)
            if not rows:
                break
            readings = [r for _, r in rows]
            if name == "store":
                ("\\n".join(to_lines(readings)) + "\\n").encode()
            else:
                for r in readings:
                    liveness.observe(r)
                    evaluator.evaluate(r, now)
            log.commit(name, rows[-1][0])
            cpu[name] += time.process_time() - c0
    log.close()
us = {k: round(v / len(batch) * 1e6, 2) for k, v in cpu.items()}
print(json.dumps(us | {"total": round(sum(us.values()), 2), "readings": len(batch)}))
"""


def one(tree: Path, devices: int, per: int) -> dict[str, Any]:
    """One run of `tree`: microseconds of CPU per reading by stage."""
    load = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(devices), str(per)], cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: {out.stderr[-2000:]}")
    return {"load": round(load, 2), **json.loads(out.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    """Run the pairs and print each run and the medians as JSON lines."""
    p = argparse.ArgumentParser(prog="python -m bench.reading_path",
                                description=__doc__.splitlines()[0])
    p.add_argument("--base", help="a git revision to compare with (default: this tree alone)")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--devices", type=int, default=2000)
    p.add_argument("--per", type=int, default=30, help="readings per device")
    args = p.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "tree": []}
    with tempfile.TemporaryDirectory(prefix="sitewatch-path-") as tmp:
        trees = {"tree": ROOT}
        if args.base:
            trees = {"base": Path(tmp) / "base", "tree": ROOT}
            trees["base"].mkdir()
            archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(trees["base"])], input=archive, check=True)
        for _ in range(args.pairs):
            for side, tree in trees.items():
                runs[side].append(one(tree, args.devices, args.per))
                print(json.dumps({"side": side, **runs[side][-1]}), flush=True)
    print(json.dumps({f"{side}_median_us": {
        k: round(statistics.median(r[k] for r in rs), 2)
        for k in ("writer", "store", "rules", "total")}
        for side, rs in runs.items() if rs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
