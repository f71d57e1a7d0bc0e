"""Parsing a large device registry: PyYAML's pure-Python safe loader against libyaml's.

    .venv/bin/python -m bench.registry_load [--devices 10000] [--repeat 3]

`sitewatch serve` parses the registry before it connects (and again at every reload), so this
is start-up time a site with many devices waits for. The same registry text (bench/loadgen.py's
devices, one flow mapping per line) is parsed alternately by `yaml.SafeLoader` and by
`devices.registry.SAFE_LOADER`; then `parse_registry` as a whole (YAML and validation) is
timed. Best of `--repeat` each, in seconds. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import yaml

from bench.common import machine
from bench.loadgen import registry_yaml
from devices.registry import SAFE_LOADER, parse_registry


def best(f: Callable[[], Any], repeat: int) -> float:
    """The shortest of `repeat` timed calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return round(min(times), 3)


def main(argv: list[str] | None = None) -> int:
    """Time the loaders and print the figures as JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.registry_load",
                                description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    text = registry_yaml(args.devices, "hq")
    pure = best(lambda: yaml.load(text, Loader=yaml.SafeLoader), args.repeat)  # noqa: S506
    used = best(lambda: yaml.load(text, Loader=SAFE_LOADER), args.repeat)  # noqa: S506
    whole = best(lambda: parse_registry(text), args.repeat)
    print(json.dumps({"machine": machine(), "devices": args.devices, "results": {
        "pure_python_safe_loader_s": pure, "loader_used": SAFE_LOADER.__name__,
        "loader_used_s": used, "parse_registry_s": whole}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
