"""Run every benchmark against its own Mosquitto and InfluxDB; write BENCHMARKS.md and JSON.

    .venv/bin/python -m bench.run [--label NAME] [--only throughput|latency|api|memory]

Raw figures go to bench/results.json under the run's label (default `current`); runs under
other labels already in that file are kept, so BENCHMARKS.md can show them side by side
(e.g. `before` and `after` an optimisation). `--only` runs one group (throughput = burst,
paced run and bare subscriber; latency = alert latency; api and memory = the seeded API run,
which measures both) and replaces only those figures of the label, keeping the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import alert_latency, api_latency, throughput
from bench.common import ROOT, Servers, machine
from bench.report import render

RESULTS = ROOT / "bench" / "results.json"
REPORT = ROOT / "BENCHMARKS.md"

# Sizes: chosen so the whole run stays under ~10 minutes on a 2-core machine.
TP_DEVICES, TP_PER_DEVICE, TP_PROCS = 2000, 100, 2  # 200,000 readings per throughput run


# --only NAME -> the result keys it (re)measures
GROUPS = {
    "throughput": ("baseline", "throughput"),
    "latency": ("alert_latency",),
    "api": ("api_memory",),
    "memory": ("api_memory",),
}


def run_all(workdir: Path, only: str | None = None) -> dict[str, Any]:
    """Every benchmark (or one `--only` group), each with a fresh service; the raw figures."""
    servers = Servers(workdir / "servers")
    servers.start()
    out: dict[str, Any] = {}
    wanted = GROUPS[only] if only else tuple(k for g in GROUPS.values() for k in g)
    try:
        for name, bench in [
            ("baseline", lambda: throughput.baseline(servers, TP_DEVICES, TP_PER_DEVICE,
                                                     TP_PROCS)),
            ("throughput", lambda: throughput.sitewatch(servers, workdir / "tp", TP_DEVICES,
                                                        TP_PER_DEVICE, TP_PROCS)),
            ("alert_latency", lambda: alert_latency.run(servers, workdir / "al")),
            ("api_memory", lambda: api_latency.run(servers, workdir / "api")),
        ]:
            if name not in wanted:
                continue
            start = time.monotonic()
            print(f"[bench] {name} ...", flush=True)
            out[name] = bench()
            out[name]["wall_s"] = round(time.monotonic() - start, 1)
            print(f"[bench] {name}: {json.dumps(out[name])}", flush=True)
    finally:
        servers.stop()
    return out


def findings() -> str:
    """The hand-written `## Findings` section of bench/README.md (profile, changes), if any."""
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else ""
    at = text.find("## Findings")
    return text[at:].strip() + "\n" if at >= 0 else ""


def kept_sections() -> str:
    """Sections of BENCHMARKS.md that other benchmarks keep by hand (bench/console.py's)."""
    text = REPORT.read_text() if REPORT.exists() else ""
    at = text.find("\n## The console")
    return text[at:] if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    """Run, then write bench/results.json and BENCHMARKS.md."""
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--label", default="current", help="name of this run in results.json")
    p.add_argument("--render", action="store_true",
                   help="only rewrite BENCHMARKS.md from bench/results.json (no run)")
    p.add_argument("--only", choices=sorted(GROUPS),
                   help="run one group and keep the label's other figures")
    args = p.parse_args(argv)
    if args.render:
        saved = json.loads(RESULTS.read_text())
        REPORT.write_text(render(saved["runs"], saved["latest"], findings()) + kept_sections())
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sitewatch-bench-") as tmp:
        results = run_all(Path(tmp), args.only)
    runs: dict[str, Any] = {}
    if RESULTS.exists():
        runs = json.loads(RESULTS.read_text()).get("runs", {})
    if args.only and args.label in runs:  # keep the figures this run did not re-measure
        results = {**runs[args.label]["results"], **results}
    runs[args.label] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python -m bench.run", *sys.argv[1:]]),
        "wall_s": round(time.monotonic() - started, 1),
        "machine": machine(),
        "results": results,
    }
    RESULTS.write_text(json.dumps({"latest": args.label, "runs": runs}, indent=2) + "\n")
    REPORT.write_text(render(runs, args.label, findings()) + kept_sections())
    print(f"[bench] wrote {REPORT} and {RESULTS} in {runs[args.label]['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
