"""`sitewatch calendar create|list|revoke`: read-only calendar links for calendar apps."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_calendar_parser(sub: Any) -> None:
    """Add the `calendar` verb to the CLI's subparsers."""
    cal = sub.add_parser("calendar", help="calendar links to the maintenance calendar (.ics)")
    csub = cal.add_subparsers(dest="calendar_verb", required=True)
    create = csub.add_parser("create", help="make a calendar link and print it")
    create.add_argument("name", help="whose calendar app will hold it, e.g. 'alice phone'")
    create.set_defaults(func=_create)
    revoke = csub.add_parser("revoke", help="revoke every calendar link of this name")
    revoke.add_argument("name")
    revoke.set_defaults(func=_revoke)
    csub.add_parser("list", help="list calendar links (never their secrets)").set_defaults(
        func=_list
    )


def _engine() -> Any:
    from api.settings import Settings
    from rules.db.database import open_database

    return open_database(Settings().database_url)


def _create(args: argparse.Namespace) -> int:
    from api.calendar_tokens import create_calendar_token
    from rules.audit.log import cli_actor

    engine = _engine()
    try:
        token = create_calendar_token(engine, args.name, cli_actor())
    except ValueError as e:
        print(f"sitewatch calendar create: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"/api/v1/schedules.ics?calendar_token={token}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from api.calendar_tokens import revoke_calendar_tokens

    engine = _engine()
    try:
        n = revoke_calendar_tokens(engine, args.name)
    finally:
        engine.dispose()
    if not n:
        print(f"sitewatch calendar revoke: no live link named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked {n} link(s) named {args.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from api.calendar_tokens import list_calendar_tokens

    engine = _engine()
    try:
        for t in list_calendar_tokens(engine):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            print(f"{t.name:<24} by {t.created_by:<16} created {t.created_at:%Y-%m-%d}  {state}")
    finally:
        engine.dispose()
    return 0
