"""Running a backtest against the configured stores: `sitewatch rules backtest` and the API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from devices.columns import DeviceColumns
from devices.registry import Registry
from ingest.stores.base import ColumnReplay, DeviceReplay, TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from rules.db.schema import incidents
from rules.engine.backtest import (
    BacktestResult,
    Progress,
    Recorded,
    diff,
    replay,
    replay_devices,
)
from rules.engine.backtest_columns import values_wanted
from rules.engine.loader import RulePack

T = TypeVar("T")
RANGE_MAX_S = 31 * 86_400.0  # the longest period one backtest replays


class BacktestRangeError(ValueError):
    """The period is unreadable, backwards or longer than RANGE_MAX_S; `field` names it."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(f"{field}: {msg}")
        self.field = field
        self.msg = msg


def parse_when(field: str, text: str) -> float:
    """ISO 8601 (naive means UTC) or Unix seconds -> Unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BacktestRangeError(field, f"{text!r} is neither ISO 8601 nor Unix seconds") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def check_range(start: float, end: float) -> None:
    """BacktestRangeError unless start < end and the period is at most RANGE_MAX_S."""
    if end <= start:
        raise BacktestRangeError("to", "must be after from")
    if end - start > RANGE_MAX_S:
        raise BacktestRangeError("from", f"period longer than {RANGE_MAX_S / 86400:.0f} days")


def recorded_incidents(engine: sa.Engine, start: float, end: float, site: str | None
                       ) -> list[Recorded]:
    """Incidents rules opened in [start, end) (of one site if given), as the live run did."""
    t = incidents.c
    q = sa.select(t.id, t.rule_id, t.device_id, t.opened_at, t.resolved_at).where(
        t.opened_at >= datetime.fromtimestamp(start, UTC),
        t.opened_at < datetime.fromtimestamp(end, UTC),
        t.rule_id.is_not(None), t.device_id.is_not(None), t.opened_by.like("rule:%"),
    )
    if site is not None:
        q = q.where(t.site == site)
    with engine.connect() as c:
        rows = c.execute(q).all()
    return [Recorded(r.id, r.rule_id, r.device_id, r.opened_at.timestamp(),
                     r.resolved_at.timestamp() if r.resolved_at else None) for r in rows]

# Device by device costs a few queries per device (HTTP round trips on InfluxDB): past this
# many devices one merged read of the period is cheaper.
PER_DEVICE_MAX = 1000


def read_ahead(pool: Executor, ids: Sequence[str], read: Callable[[str], T]
               ) -> Callable[[str], T]:
    """read(id) for `ids` asked in that order, the next id's read started on `pool` as each
    is handed out (a server then works on it while the caller works on this one)."""
    ahead: dict[str, Future[T]] = {}
    following = dict(zip(ids, ids[1:], strict=False))

    def get(device_id: str) -> T:
        mine = ahead.pop(device_id, None) or pool.submit(read, device_id)
        after = following.get(device_id)
        if after is not None and after not in ahead:
            ahead[after] = pool.submit(read, after)
        return mine.result()
    return get


def run_backtest(pack: RulePack, store: TelemetryStore, engine: sa.Engine, registry: Registry,
                 start: float, end: float, site: str | None = None,
                 progress: Progress | None = None) -> BacktestResult:
    """Replay the store's readings of the period through `pack` and diff with the record."""
    check_range(start, end)
    devices = registry
    if site is not None:
        devices = Registry.from_devices(
            [d for d in registry.devices.values() if d.site == site], registry.zones)
    ids = store.reading_devices(start, end, site) if isinstance(store, DeviceReplay) else None
    if ids is not None and len(ids) <= PER_DEVICE_MAX:
        assert isinstance(store, DeviceReplay)
        columns_of: Callable[[str], DeviceColumns | None] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="backtest-read") as pool:
            if isinstance(store, ColumnReplay):
                column_store, wanted = store, values_wanted(pack)

                def columns(d: str) -> DeviceColumns | None:
                    return column_store.device_columns(d, start, end, site, wanted)
                # A server's store answers the next device's query while this one is replayed.
                columns_of = columns if isinstance(store, EmbeddedStore) else read_ahead(
                    pool, ids, columns)
            result = replay_devices(pack, ids,
                                    lambda d: store.device_readings(d, start, end, site),
                                    start, end, devices, progress, columns_of=columns_of)
    else:
        result = replay(pack, store.readings(start, end, site), start, end, devices, progress)
    return diff(result, recorded_incidents(engine, start, end, site))


def cli(args: argparse.Namespace) -> int:
    """`sitewatch rules backtest FILE --from T --to T [--site S] [--json]`."""
    from api.device_admin import DeviceAdmin
    from api.settings import Settings
    from devices.registry import load_registry
    from ingest.stores.factory import open_store
    from rules.db.database import open_database
    from rules.db.device_registry import DeviceTable
    from rules.engine.loader import RuleError, load_rules

    try:
        pack = load_rules(Path(args.file))
    except RuleError as e:
        for line in e.errors:
            print(line, file=sys.stderr)
        return 2
    try:
        start, end = parse_when("from", args.start), parse_when("to", args.end)
        check_range(start, end)
    except BacktestRangeError as e:
        print(f"sitewatch rules backtest: --{e.field}: {e.msg}", file=sys.stderr)
        return 2
    settings = Settings()
    engine = open_database(settings.database_url)
    store = open_store(settings)
    try:
        admin = DeviceAdmin(DeviceTable(engine), load_registry(settings.devices))
        admin.load(admin.registry, actor="cli")

        def progress(n: int, at: float) -> None:
            done = (at - start) / (end - start)
            print(f"backtest: {n:,} readings, {done:.0%} done", file=sys.stderr)

        result = run_backtest(pack, store, engine, admin.registry, start, end, args.site,
                              progress)
    finally:
        store.close()
        engine.dispose()
    if result.readings == 0:
        print("backtest: no telemetry or events stored in this period", file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_json()))
        return 0
    _print_text(result)
    return 0


def _print_text(result: BacktestResult) -> None:
    out = result.as_json()
    print(f"{result.readings:,} readings replayed in {result.seconds:.1f} s")
    print(f"would open {len(out['would_open'])} incidents:")
    for w in out["would_open"]:
        print(f"  {w['opened_at']}  {w['rule']:<28} {w['device_id']:<16} "
              f"resolved {w['resolved_at'] or '-'}")
    d = out["diff"]
    print(f"diff: {len(d['new'])} new, {len(d['gone'])} gone, {len(d['moved'])} moved")
    for w in d["new"]:
        print(f"  new   {w['opened_at']}  {w['rule']} {w['device_id']}")
    for r in d["gone"]:
        print(f"  gone  {r['opened_at']}  {r['rule']} {r['device_id']}"
              f" (incident {r['incident_id']})")
    for m in d["moved"]:
        print(f"  moved {m['rule']} {m['device_id']}: {m['recorded_at']} -> {m['would_open_at']}"
              f" ({abs(m['by_s'])} s {m['direction']})")


def add_parser(rules_sub: argparse._SubParsersAction) -> None:
    """The `rules backtest` sub-verb."""
    p = rules_sub.add_parser("backtest", help="replay a period of stored data through FILE")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--from", dest="start", required=True, help="ISO 8601 or Unix seconds")
    p.add_argument("--to", dest="end", required=True, help="ISO 8601 or Unix seconds")
    p.add_argument("--site", default=None)
    p.add_argument("--json", action="store_true", help="one JSON object (SPEC §10)")
    p.set_defaults(func=cli)
