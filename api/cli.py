"""The `sitewatch` console script: demo, serve, simulate, rules check, token create."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    from api.service import run_serve
    from api.settings import Settings

    return run_serve(Settings())


def _demo(args: argparse.Namespace) -> int:
    from api.demo import run_demo
    from api.settings import Settings

    # The demo keeps its data where the CLI looks by default (SITEWATCH_DATA_DIR, ./var), so
    # `sitewatch token create` and `token list` work with the running demo.
    data_dir = Path(args.data_dir) if args.data_dir else Settings().data_dir
    return run_demo(data_dir=data_dir, port=args.port, broker_port=args.broker_port)


def _simulate(args: argparse.Namespace) -> int:
    import logging

    from devices.sim.cli import run_from_args

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return run_from_args(args)


def _rules_check(args: argparse.Namespace) -> int:
    from rules.engine.loader import BUILTIN, RuleError, check_rules_file, load_rules

    files = list(args.files)
    if not files:  # the rules `serve` would load: SITEWATCH_RULES, else the built-in pack
        from api.settings import Settings

        configured = Settings().rules
        if configured is None:
            try:
                load_rules()
            except RuleError as broken:
                print(broken, file=sys.stderr)
                return 1
            print(f"{BUILTIN}: ok")
            return 0
        files = [str(configured)]
    status = 0
    for f in files:
        errors = check_rules_file(Path(f))
        for e in errors:
            print(e, file=sys.stderr)
        if errors:
            status = 1
        else:
            print(f"{f}: ok")
    return status


def _token_create(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from api.tokens import TokenError, create_token
    from rules.db.database import open_database

    sites = [s.strip() for s in args.sites.split(",")] if args.sites is not None else None
    expires_at = None
    if args.expires is not None:
        from datetime import UTC, datetime, timedelta

        from rules.engine.durations import parse_duration

        try:
            expires_at = datetime.now(UTC) + timedelta(seconds=parse_duration(args.expires))
        except ValueError as e:
            print(f"sitewatch token create: --expires: {e}", file=sys.stderr)
            return 2
    engine = open_database(Settings().database_url)
    try:
        print(create_token(engine, args.name, args.role, sites=sites, expires_at=expires_at))
    except TokenError as e:
        print(f"sitewatch token create: {e}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from api.tokens import revoke_token
    from rules.db.database import open_database

    engine = open_database(Settings().database_url)
    try:
        if not revoke_token(engine, args.name):
            print(f"sitewatch token revoke: no active token named {args.name!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.name}")
        return 0
    finally:
        engine.dispose()


def _token_list(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from api.tokens import list_tokens
    from rules.db.database import open_database

    engine = open_database(Settings().database_url)
    try:
        for t in list_tokens(engine):
            state = f"revoked {t['revoked_at']:%Y-%m-%d}" if t["revoked_at"] else "active"
            if t["expires_at"] and not t["revoked_at"]:
                state += f", expires {t['expires_at']:%Y-%m-%d %H:%M}"
            sites = t["sites"] or "all sites"
            print(f"{t['id']:>4} {t['name']:<24} {t['role']:<12} created "
                  f"{t['created_at']:%Y-%m-%d}  {state}  {sites}")
        return 0
    finally:
        engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb."""
    p = argparse.ArgumentParser(prog="sitewatch", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)

    demo = sub.add_parser("demo", help="everything on this machine, no server installed")
    demo.add_argument(
        "--data-dir", default=None,
        help="where the demo keeps its data (default: SITEWATCH_DATA_DIR, ./var, as the CLI)",
    )
    demo.add_argument("--port", type=int, default=8000, help="API port")
    demo.add_argument("--broker-port", type=int, default=0, help="embedded MQTT port (0: free)")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="ingest, rules, scheduler and API (configured by env)")
    serve.set_defaults(func=_serve)

    sim = sub.add_parser("simulate", help="publish a simulated site to a broker")
    from devices.sim.cli import add_arguments

    add_arguments(sim)
    sim.set_defaults(func=_simulate)

    rules = sub.add_parser("rules", help="rules files")
    rsub = rules.add_subparsers(dest="rules_verb", required=True)
    check = rsub.add_parser(
        "check", help="validate rules files (none given: the configured rules, SITEWATCH_RULES)"
    )
    check.add_argument("files", nargs="*", metavar="FILE")
    check.set_defaults(func=_rules_check)
    from api.backtest_run import add_parser as add_backtest_parser

    add_backtest_parser(rsub)

    from api.cli_devices import add_parser as add_devices_parser

    add_devices_parser(sub)
    token = sub.add_parser("token", help="API tokens")
    tsub = token.add_subparsers(dest="token_verb", required=True)
    create = tsub.add_parser("create", help="create a token and print it")
    create.add_argument("name")
    create.add_argument(
        "--role", required=True, choices=["viewer", "security", "maintenance", "admin"]
    )
    create.add_argument("--sites", help="comma-separated site ids the token is limited to "
                        "(default: every site)")
    create.add_argument("--expires", help="lifetime, e.g. 90d or 12h (default: never expires)")
    create.set_defaults(func=_token_create)
    revoke = tsub.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=_token_revoke)
    tsub.add_parser("list", help="list tokens (names and roles, never secrets)").set_defaults(
        func=_token_list
    )
    from api.cli_operations import add_operations_verbs

    add_operations_verbs(sub)  # sitewatch disable …, sitewatch test …
    from api.cli_calendar import add_calendar_parser
    from api.cli_people import add_oncall_parser

    add_calendar_parser(sub)
    add_oncall_parser(sub)
    from api.cli_audit import add_audit_parser

    add_audit_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; a configuration error is one line and exit 2."""
    from pydantic import ValidationError

    from api.settings_check import SettingsError
    from api.tokens import TokenError
    from devices.broker_url import BrokerUrlError
    from devices.registry import RegistryError
    from devices.tls import TlsConfigError
    from rules.db.database import DatabaseUrlError
    from rules.engine.loader import RuleError
    from rules.incidents.sla import SlaConfigError
    from rules.maintenance.config import ScheduleConfigError
    from rules.notify.routes import NotificationConfigError
    from rules.operations.plans import PlanConfigError
    from rules.people.oncall_config import OnCallConfigError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationError as e:
        for err in e.errors():
            name = "SITEWATCH_" + "_".join(str(p) for p in err["loc"]).upper()
            print(f"sitewatch: {name}: {err['msg']}", file=sys.stderr)
        return 2
    except (SettingsError, TokenError, BrokerUrlError, DatabaseUrlError, RegistryError, RuleError,
            NotificationConfigError, ScheduleConfigError, SlaConfigError, TlsConfigError,
            PlanConfigError, OnCallConfigError) as e:
        print(f"sitewatch: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
