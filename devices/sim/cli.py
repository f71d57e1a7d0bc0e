"""`sitewatch simulate`: the simulator's command-line options and entry point."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devices.registry import RegistryError, load_registry
from devices.sim.broker_link import SimulatorError
from devices.sim.scenario import (
    FAULT_TARGETS,
    FaultError,
    demo_scenario,
    generate_site,
    parse_fault,
)
from devices.sim.simulator import Simulator
from devices.tls import TlsConfigError, TlsFiles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `sitewatch simulate` options to a parser."""
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                        help="mqtt://[user:pass@]host[:port] or mqtts://... (default %(default)s)")
    parser.add_argument("--prefix", default="sitewatch", help="topic prefix (default %(default)s)")
    fleet = parser.add_mutually_exclusive_group()
    fleet.add_argument("--devices", metavar="FILE",
                       help="device registry YAML (default: the built-in sample site)")
    fleet.add_argument("--count", type=int, metavar="N",
                       help="simulate N generated devices across all kinds instead")
    parser.add_argument("--site", default="sim", help="site id for --count (default %(default)s)")
    parser.add_argument("--rate", type=float, metavar="MSG_PER_S",
                        help="telemetry messages/s for the whole site, spread over the devices "
                        "(default: each device at its kind's reporting interval)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="site seconds per wall second for signal shapes (default 1)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[:DEVICE][@TIME]",
                        help="scripted fault, repeatable, e.g. door_held:door-08@40s"
                        f"; names: {', '.join(sorted(FAULT_TARGETS))}")
    parser.add_argument("--ca-file", type=Path, help="mqtts://: trust this CA (PEM)")
    parser.add_argument("--cert-file", type=Path, help="mqtts://: client certificate (PEM)")
    parser.add_argument("--key-file", type=Path, help="mqtts://: the client certificate's key")
    parser.add_argument("--scenario", choices=["demo"],
                        help="add the demo's scripted faults (needs the sample site's devices)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run `sitewatch simulate` with parsed options; 0 done, 1 broker trouble, 2 bad input."""
    try:
        registry = (
            generate_site(args.count, args.site) if args.count is not None
            else load_registry(args.devices)
        )
        faults = [parse_fault(f) for f in args.fault]
        if args.scenario == "demo":
            faults = demo_scenario() + faults
        sim = Simulator(registry, args.broker, prefix=args.prefix, rate=args.rate,
                        duration_s=args.duration, seed=args.seed, faults=faults, speed=args.speed,
                        tls=TlsFiles(args.ca_file, args.cert_file, args.key_file))
    except (RegistryError, FaultError, ValueError) as e:
        print(f"sitewatch simulate: {e}", file=sys.stderr)
        return 2
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: sim.stop())
    try:
        stats = sim.run()
    except (SimulatorError, TlsConfigError) as e:
        print(f"sitewatch simulate: {e}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"sitewatch simulate: {len(registry)} devices, {stats.telemetry} telemetry, "
          f"{stats.events} events, {stats.refused} refused", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m devices.sim.cli` (options as `sitewatch simulate`)."""
    parser = argparse.ArgumentParser(prog="sitewatch simulate", description=__doc__)
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
