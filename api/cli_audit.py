"""`sitewatch audit`: the audit log of the configured database, newest first (SPEC §8.6)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

LIMIT_DEFAULT = 100  # entries printed unless --limit says otherwise


def add_audit_parser(sub: Any) -> None:
    """Add the `audit` verb to the CLI's subparsers."""
    audit = sub.add_parser("audit", help="who changed what through the API or the CLI")
    audit.add_argument("--actor", help="exactly this actor (a token's name, cli:USER, ...)")
    audit.add_argument("--action", help="e.g. token.create; without a dot, a family (incident)")
    audit.add_argument("--target", help="e.g. incident:42; without a colon, a kind (device)")
    audit.add_argument("--from", dest="start", metavar="T", help="ISO 8601 (naive: UTC)")
    audit.add_argument("--to", dest="end", metavar="T", help="ISO 8601, exclusive")
    audit.add_argument("--limit", type=int, default=LIMIT_DEFAULT,
                       help=f"entries at most (default {LIMIT_DEFAULT})")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(func=_audit)


def _instant(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not ISO 8601") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _audit(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from rules.audit.log import Filters, entries
    from rules.db.database import open_database

    try:
        start, end = _instant("--from", args.start), _instant("--to", args.end)
        if args.limit < 1:
            raise ValueError("--limit: must be at least 1")
        if start is not None and end is not None and start >= end:
            raise ValueError("--from: must be before --to")
    except ValueError as e:
        print(f"sitewatch audit: {e}", file=sys.stderr)
        return 2
    filters = Filters(actor=args.actor, action=args.action, target=args.target,
                      start=start, end=end)
    engine = open_database(Settings().database_url)
    try:
        found, total = entries(engine, filters, limit=args.limit)
    finally:
        engine.dispose()
    for entry in found:
        if args.json:
            print(json.dumps({**vars(entry), "at": entry.at.isoformat()}, ensure_ascii=False))
        else:
            detail = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False)
            print(f"{entry.at:%Y-%m-%d %H:%M:%S}Z  {entry.actor:<20} {entry.action:<24} "
                  f"{entry.target:<28} {entry.site or '-':<12} {detail}")
    if not args.json and total > len(found):
        print(f"({len(found)} of {total}; --limit for more)", file=sys.stderr)
    return 0
