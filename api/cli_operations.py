"""`sitewatch disable …` and `sitewatch test …`: disablements and walk tests from a terminal,
written straight to the database (a running `serve` reads them at its next signal), recorded
as the operator's `cli:<user>` with the reason or note given."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from rules.operations.errors import InvalidField, OperationError
from rules.operations.service import Operations


def add_operations_verbs(sub: Any) -> None:
    """Add the `disable` and `test` verbs to the CLI's subparsers."""
    disable = sub.add_parser("disable", help="disablements (isolations) of a site, zone or device")
    dsub = disable.add_subparsers(dest="disable_verb", required=True)
    add = dsub.add_parser("add", help="disable a target until a time (at most 7 days)")
    _target_args(add)
    add.add_argument("--reason", required=True, help="why (kept for the audit log)")
    add.set_defaults(func=_disable_add)
    _list_show_end(dsub, "disablement", _disable_list, _disable_show, _disable_end)

    # `walk-test` too: `./run.sh test` runs the project's test suite, `./run.sh walk-test` this.
    test = sub.add_parser("test", aliases=["walk-test"],
                          help="walk tests of a site, zone or device")
    tsub = test.add_subparsers(dest="test_verb", required=True)
    start = tsub.add_parser("start", help="put a target in test until a time (at most 24 h)")
    _target_args(start)
    start.add_argument("--note", default="", help="what is being tested")
    start.set_defaults(func=_test_start)
    _list_show_end(tsub, "test", _test_list, _test_show, _test_end)


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("site")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--zone")
    where.add_argument("--device", dest="device_id")
    p.add_argument("--until", required=True,
                   help="a duration from now (30m, 4h, 2d) or a time (2026-12-01T08:00:00Z)")
    p.add_argument("--by", default=f"cli:{getpass.getuser()}", help="who is doing it")


def _list_show_end(sub: Any, noun: str, list_: Any, show: Any, end: Any) -> None:
    ls = sub.add_parser("list", help=f"{noun}s, newest first")
    ls.add_argument("--active", action="store_true", help="only those in force")
    ls.set_defaults(func=list_)
    for verb, func, text in (("show", show, f"one {noun}"), ("end", end, f"end a {noun} now")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("id", type=int)
        if verb == "end":
            p.add_argument("--by", default=f"cli:{getpass.getuser()}", help="who ends it")
        p.set_defaults(func=func)


def parse_until(text: str, now: datetime) -> datetime:
    """A duration from now or an ISO time with a zone (InvalidField otherwise)."""
    from rules.engine.durations import parse_duration

    try:
        return now + timedelta(seconds=parse_duration(text))
    except (ValueError, TypeError):
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidField("--until", f"{text!r} is neither a duration nor a time") from None
    if when.tzinfo is None:
        raise InvalidField("--until", "give a time zone (e.g. 2026-12-01T08:00:00Z)")
    return when


@contextmanager
def _operations() -> Iterator[Operations]:
    from api.settings import Settings
    from devices.registry import load_registry
    from rules.db.database import open_database
    from rules.engine.loader import load_rules
    from rules.incidents.service import IncidentService
    from rules.incidents.sla import load_sla
    from rules.operations.plans import load_plans

    settings = Settings()
    engine = open_database(settings.database_url)
    try:
        pack = load_rules(settings.rules)
        incidents = IncidentService(engine, pack, load_sla(settings.sla))
        yield Operations(engine, incidents, load_registry(settings.devices), pack,
                         load_plans(settings.plans)).install()
    finally:
        engine.dispose()


def _run(work: Any) -> int:
    """Run `work(ops)`; an operation's refusal is one line (2 for bad input, 1 otherwise)."""
    try:
        with _operations() as ops:
            work(ops)
    except InvalidField as e:
        print(f"sitewatch: {e}", file=sys.stderr)
        return 2
    except OperationError as e:
        print(f"sitewatch: {e}", file=sys.stderr)
        return 1
    return 0


def _target(args: argparse.Namespace) -> dict[str, str | None]:
    return {"site": args.site, "zone": args.zone, "device_id": args.device_id}


def _where(r: Any) -> str:
    return f"{r.site}" + (f"/{r.zone}" if r.zone else "") + (f"/{r.device_id}"
                                                            if r.device_id else "")


def _line(r: Any, text: str) -> str:
    state = "active" if r.active(datetime.now(UTC)) else f"ended by {r.ended_by}"
    return (f"#{r.id:<5} {_where(r):<28} until {r.until:%Y-%m-%d %H:%M}Z  {state:<20} "
            f"by {r.created_by}: {text}")


def _disable_add(args: argparse.Namespace) -> int:
    def work(ops: Operations) -> None:
        d = ops.disable(_target(args), reason=args.reason, until=parse_until(args.until, ops.now()),
                        actor=args.by, role="admin")
        print(_line(d, d.reason))
        if d.impairment_ticket_id:
            print(f"fire protection impaired: ticket #{d.impairment_ticket_id} opened")
    return _run(work)


def _disable_list(args: argparse.Namespace) -> int:
    return _run(lambda ops: [print(_line(d, d.reason)) for d in ops.disablements(
        active=args.active)])


def _disable_show(args: argparse.Namespace) -> int:
    def work(ops: Operations) -> None:
        d, hidden = ops.disablement(args.id)
        print(_line(d, d.reason))
        for h in hidden:
            print(f"  hid {h.rule_id} on {h.device_id} x{h.count}, first {h.first_at:%H:%M:%S}, "
                  f"last {h.last_action} {h.last_at:%H:%M:%S}")
    return _run(work)


def _disable_end(args: argparse.Namespace) -> int:
    return _run(lambda ops: print(_line(ops.end_disablement(args.id, actor=args.by,
                                                            role="admin"), "ended")))


def _test_start(args: argparse.Namespace) -> int:
    def work(ops: Operations) -> None:
        t = ops.start_test(_target(args), until=parse_until(args.until, ops.now()),
                           note=args.note, actor=args.by)
        print(_line(t, t.note))
    return _run(work)


def _test_list(args: argparse.Namespace) -> int:
    return _run(lambda ops: [print(_line(t, t.note)) for t in ops.tests(active=args.active)])


def _test_show(args: argparse.Namespace) -> int:
    def work(ops: Operations) -> None:
        t, report = ops.test(args.id)
        print(_line(t, t.note))
        for d in report:
            when = d["first_alarm_at"]
            print(f"  {d['device_id']:<12} {d['kind'] or '?':<18} "
                  + (f"alarmed {when:%Y-%m-%d %H:%M:%S}Z" if when else "NOT TESTED"))
    return _run(work)


def _test_end(args: argparse.Namespace) -> int:
    return _run(lambda ops: print(_line(ops.end_test(args.id, actor=args.by), "ended")))
