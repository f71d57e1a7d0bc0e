"""`sitewatch oncall [--at TIME]`: who is on duty in each department, from SITEWATCH_ONCALL."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any


def add_oncall_parser(sub: Any) -> None:
    """Add the `oncall` verb to the CLI's subparsers."""
    p = sub.add_parser("oncall", help="who is on duty now in each department")
    p.add_argument("--at", help="an ISO time with zone (default: now)")
    p.set_defaults(func=_oncall)


def _oncall(args: argparse.Namespace) -> int:
    from api.endpoints.oncall import duty_report
    from api.settings import Settings
    from rules.people.oncall import load

    settings = Settings()
    if settings.oncall is None:
        print("sitewatch oncall: SITEWATCH_ONCALL is not set (no rotas)", file=sys.stderr)
        return 2
    oncall = load(settings.oncall)
    try:
        at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        print(f"sitewatch oncall: --at {args.at!r} is not an ISO time", file=sys.stderr)
        return 2
    if at.tzinfo is None:
        at = at.replace(tzinfo=oncall.zone)
    report = duty_report(oncall, at)
    print(f"on duty at {at.astimezone(oncall.zone):%Y-%m-%d %H:%M %Z} ({report['timezone']})")
    for d in report["departments"]:
        who = d["on_duty"]["name"] if d["on_duty"] else "NOBODY"
        until = f" until {d['until'][11:16]}" if d["until"] else ""
        chain = ", ".join(
            f"{lv['after_minutes']:g} min: {lv['person']['name'] if lv['person'] else '-'}"
            for lv in d["escalation"]
        )
        print(f"  {d['department']:<20} {who}{until}   escalation: {chain}")
        for gap in d["gaps"]:
            print(f"  {'':<20} gap: {gap}")
    return 0
