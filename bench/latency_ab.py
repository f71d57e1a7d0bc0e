"""Alert latency of this tree against a base revision, alternating, on one set of servers.

    .venv/bin/python -m bench.latency_ab --base REV [--pairs 3] [--triggers 250]

The p99 of benchmark 3 (bench/alert_latency.py) moves with whatever else the machine does, so
a change is judged against its base in the same run: `git archive REV` is unpacked into a
temporary folder, and runs of the base and of this tree alternate (base first), each a
subprocess importing its own tree's product and benchmark code. Prints one JSON line per run
(tree, load average at its start, p50/p99/max) and the median p99 of each side.
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

from bench.common import ROOT, Servers

# Run inside the tree under test: its bench.alert_latency against the servers started here.
_RUN = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
from bench import alert_latency
from tests.servers import Server

class Started:
    def __init__(self, mqtt: int, influx: int) -> None:
        self.mqtt, self.influx = Server.__new__(Server), Server.__new__(Server)
        self.mqtt.port, self.influx.port = mqtt, influx

servers = Started(int(sys.argv[1]), int(sys.argv[2]))
print(json.dumps(alert_latency.run(servers, Path(sys.argv[3]), triggers=int(sys.argv[4]),
                                   prefix=sys.argv[5])))
"""


def one(tree: Path, servers: Servers, workdir: Path, triggers: int, prefix: str) -> dict[str, Any]:
    """One alert-latency run of `tree`; its result with the load average at its start."""
    load = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(servers.mqtt.port), str(servers.influx.port),
         str(workdir / prefix), str(triggers), prefix],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: {out.stderr[-2000:]}")
    return {"load": round(load, 2), **json.loads(out.stdout.strip().splitlines()[-1])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="the git revision to compare against")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--triggers", type=int, default=250)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="latency-ab-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # Mosquitto runs as its own user (tests/servers.py)
        base = work / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        servers = Servers(work / "servers")
        servers.start()
        p99: dict[str, list[float]] = {"base": [], "this": []}
        try:
            for n in range(args.pairs):
                for side, tree in (("base", base), ("this", ROOT)):
                    r = one(tree, servers, work, args.triggers, f"ab{n}{side[0]}")
                    p99[side].append(r["p99_ms"])
                    print(json.dumps({"tree": side, **r}), flush=True)
        finally:
            servers.stop()
    print(json.dumps({f"median_p99_ms_{k}": statistics.median(v) for k, v in p99.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
