"""The alarm system's health (SPEC §8.7) as ISA-18.2 / EEMUA 191 measure it: alert rates,
floods, the most frequent alerts, chattering and stale alerts, the severity mix, MTTA and false
alarms, each figure beside its reference level with a verdict.

Every figure is computed in the database (GROUP BY 10-minute slots, a window for chattering),
on SQLite and PostgreSQL alike; Python only shapes the few rows that come back. Walk-test
alerts (`test`) are not alarms the operator had to answer and are left out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incidents
from rules.operations.resolution import false_alarm_rates

SLOT_S = 600  # ISA-18.2 counts alarms per 10-minute interval
FLOOD_OVER = 10  # a 10-minute interval with more than this many alerts is a flood
CHATTER_OPENS = 3  # this many opens of one (rule, device) ...
CHATTER_WINDOW = timedelta(minutes=1)  # ... within a minute is chattering
STALE = timedelta(hours=24)  # an alert active longer than this is stale
TOP = 10  # the most frequent (rule, device) pairs
# Sitewatch's severities on ISA-18.2's three priorities (its ~80/15/5 distribution).
PRIORITY_OF = {"critical": "high", "major": "medium", "minor": "low"}
ISA = "ISA-18.2 Table 5, after EEMUA 191"
EEMUA = "EEMUA 191"
BS5839 = "BS 5839-1"
OPEN_ALERT_STATES = ("active", "acknowledged")


@dataclass(frozen=True)
class Reference:
    """A figure's reference level: `op target` is acceptable, past `limit` (if any) is over."""

    op: str  # "<=", "<" or ">="
    target: float
    limit: float | None = None  # between target and limit: manageable
    source: str = ISA

    def verdict(self, value: float | None) -> str | None:
        """ok, manageable or over; None when there is nothing to judge."""
        if value is None:
            return None
        meets = {"<=": value <= self.target, "<": value < self.target,
                 ">=": value >= self.target}[self.op]
        if meets:
            return "ok"
        if self.limit is not None and value <= self.limit:
            return "manageable"
        return "over"

    def text(self) -> str:
        """The reference for a CSV cell: `<= 1; manageable <= 2 (ISA-18.2 ...)`."""
        level = f"{self.op} {self.target:g}"
        if self.limit is not None:
            level += f"; manageable <= {self.limit:g}"
        return f"{level} ({self.source})"


REFERENCES: dict[str, Reference | None] = {
    "alerts": None,
    "alerts_per_hour_avg": Reference("<=", 6, 12),  # per operator position
    "alerts_per_hour_peak": None,  # ISA-18.2 sets its peak per 10 minutes only
    "alerts_per_10min_avg": Reference("<=", 1, 2),
    "alerts_per_10min_peak": Reference("<=", FLOOD_OVER),
    "flood_intervals_pct": Reference("<", 1),
    "top10_share_pct": Reference("<=", 5),  # "~1 % to 5 % maximum"
    "chattering_pairs": Reference("<=", 0),
    "stale_alerts": Reference("<=", 0),  # opened in the period, active over 24 h
    "stale_open_now": Reference("<", 5, source=EEMUA),  # "fewer than 5 at any time"
    "severity_high_pct": Reference("<=", 5),
    "severity_medium_pct": Reference("<=", 15),
    "severity_low_pct": Reference(">=", 80),
    "mtta_s": None,  # no standard level: compare periods, and the site's own targets
    "false_alarms": None,
    "unwanted_alarms": None,
    # 1 per 50 detectors a year is normal; 1 per 20 calls for an investigation.
    "false_unwanted_per_100_devices_per_year": Reference("<=", 2, 5, source=BS5839),
    "devices_with_3_false_unwanted": Reference("<=", 0, source=BS5839),  # each: investigate
}


def _seconds(col: Any) -> Any:
    """Whole Unix seconds of a SQLite timestamp ('YYYY-MM-DD HH:MM:SS.ffffff' UTC text)."""
    return sa.cast(sa.func.strftime("%s", col), sa.Integer)


def _micros(col: Any) -> Any:
    """Exact Unix microseconds of a SQLite timestamp, as an integer expression."""
    return _seconds(col) * 1_000_000 + sa.cast(sa.func.substr(col, 21, 6), sa.Integer)


def _longer(later: Any, earlier: Any, span: timedelta, dialect: str) -> Any:
    """`later - earlier > span`, exactly (PostgreSQL: interval arithmetic, no numerics)."""
    if dialect == "sqlite":
        return _micros(later) - _micros(earlier) > int(span.total_seconds() * 1_000_000)
    return later - earlier > sa.literal(span, sa.Interval)


def _sum_us(later: Any, earlier: Any, dialect: str) -> Any:
    """The sum over the group of `later - earlier`, in microseconds."""
    if dialect == "sqlite":
        return sa.func.sum(_micros(later) - _micros(earlier))
    return sa.extract("epoch", sa.func.sum(later - earlier)) * 1_000_000


def _slots(col: Any, dialect: str) -> tuple[Any, Any]:
    """(the 10-minute slot of `col`, a function of a slot giving its hour), both UTC-aligned."""
    if dialect == "sqlite":
        return _seconds(col) // SLOT_S, lambda slot: slot // (3600 // SLOT_S)
    origin = sa.literal(datetime(2000, 1, 1, tzinfo=UTC), sa.DateTime(timezone=True))
    ten, hour = sa.literal(timedelta(seconds=SLOT_S), sa.Interval), sa.literal(
        timedelta(hours=1), sa.Interval)
    return (sa.func.date_bin(ten, col, origin),  # cheaper than numeric epoch arithmetic
            lambda slot: sa.func.date_bin(hour, slot, origin))


def _scope(start: datetime, end: datetime, sites: frozenset[str] | None) -> list[Any]:
    c = incidents.c
    where = [c.kind == "alert", c.test == sa.false(), c.opened_at >= start, c.opened_at < end]
    if sites is not None:
        where.append(c.site.in_(sorted(sites)))
    return where


def _rates(conn: sa.Connection, where: list[Any], dialect: str) -> tuple[int, int, int, int]:
    """(alerts, peak per 10 min, intervals in flood, peak per hour) in one scan."""
    c = incidents.c
    slot_of, hour_of = _slots(c.opened_at, dialect)
    slot = slot_of.label("slot")
    slots = sa.select(slot, sa.func.count().label("n")).where(*where).group_by(slot).cte("slots")
    hours = (sa.select(sa.func.sum(slots.c.n).label("n"))
             .group_by(hour_of(slots.c.slot)).subquery("hours"))
    flood = sa.func.sum(sa.case((slots.c.n > FLOOD_OVER, 1), else_=0))
    row = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(slots.c.n), 0), sa.func.coalesce(sa.func.max(slots.c.n), 0),
        sa.func.coalesce(flood, 0),
        sa.select(sa.func.coalesce(sa.func.max(hours.c.n), 0)).scalar_subquery(),
    )).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _pairs(conn: sa.Connection, where: list[Any], dialect: str) -> tuple[
        list[tuple[str | None, str | None, int]], list[dict[str, Any]]]:
    """The 10 most frequent (rule, device) pairs, and the chattering ones, in one pass.

    Chattering: an open whose second-before of the same pair is at most a minute earlier
    completes 3 opens within a minute (`lag(opened_at, 2)`, the pair's opens in time order).
    """
    c = incidents.c
    back = sa.func.lag(c.opened_at, CHATTER_OPENS - 1).over(
        partition_by=(c.rule_id, c.device_id), order_by=c.opened_at)
    opens = sa.select(c.rule_id, c.device_id, c.opened_at, back.label("back")) \
        .where(*where).subquery("opens")
    quick = sa.case((sa.not_(_longer(opens.c.opened_at, opens.c.back, CHATTER_WINDOW, dialect)),
                     1), else_=0)
    pairs = sa.select(opens.c.rule_id, opens.c.device_id, sa.func.count().label("n"),
                      sa.func.sum(quick).label("chatter")) \
        .group_by(opens.c.rule_id, opens.c.device_id).subquery("pairs")
    rank = sa.func.row_number().over(
        order_by=(pairs.c.n.desc(), pairs.c.rule_id, pairs.c.device_id)).label("rank")
    ranked = sa.select(pairs, rank).subquery("ranked")
    rows = conn.execute(
        sa.select(ranked.c.rule_id, ranked.c.device_id, ranked.c.n, ranked.c.chatter)
        .where(sa.or_(ranked.c.rank <= TOP, ranked.c.chatter > 0)).order_by(ranked.c.rank)
    ).all()
    top = [(r[0], r[1], int(r[2])) for r in rows[:TOP]]
    chatter = sorted(({"rule_id": r[0], "device_id": r[1], "chattering_opens": int(r[3])}
                      for r in rows if r[3]),
                     key=lambda p: (-p["chattering_opens"], p["rule_id"] or "",
                                    p["device_id"] or ""))
    return top, chatter


def _by_severity(conn: sa.Connection, where: list[Any], dialect: str,
                 now: datetime) -> dict[str | None, dict[str, Any]]:
    """Per severity: alerts, acknowledged, summed ack time (µs), stale (active over 24 h)."""
    c = incidents.c
    stale = sa.func.sum(sa.case(
        (c.resolved_at.is_not(None), sa.case(
            (_longer(c.resolved_at, c.opened_at, STALE, dialect), 1), else_=0)),
        (sa.and_(c.state.in_(OPEN_ALERT_STATES), c.opened_at < now - STALE), 1),
        else_=0))
    rows = conn.execute(
        sa.select(c.severity, sa.func.count(), sa.func.count(c.acknowledged_at),
                  _sum_us(c.acknowledged_at, c.opened_at, dialect), stale)
        .where(*where).group_by(c.severity)
    ).all()
    return {r[0]: {"alerts": int(r[1]), "acknowledged": int(r[2]), "ack_us": int(r[3] or 0),
                   "stale": int(r[4] or 0)} for r in rows}


def _stale_now(conn: sa.Connection, now: datetime, sites: frozenset[str] | None) -> int:
    c = incidents.c
    where = [c.kind == "alert", c.state.in_(OPEN_ALERT_STATES), c.opened_at < now - STALE,
             c.test == sa.false()]
    if sites is not None:
        where.append(c.site.in_(sorted(sites)))
    return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def alarm_health(engine: sa.Engine, start: datetime, end: datetime, now: datetime,
                 sites: frozenset[str] | None = None, devices: int = 0) -> dict[str, Any]:
    """The health of alerts opened in [start, end) (only `sites` if given), judged at `now`;
    `devices` is how many devices the scope has (for false alarms per 100 devices a year)."""
    dialect = engine.dialect.name
    where = _scope(start, end, sites)
    with engine.connect() as conn, conn.begin():
        if dialect == "postgresql":
            # The narrow indexes of migration 0017 are read index-only, so random reads are
            # cheap (the SSD value); PostgreSQL's default 4.0 had it pick a heap scan 3x slower.
            # JIT costs more to compile than these short aggregates gain from it.
            conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
            conn.exec_driver_sql("SET LOCAL jit = off")
        total, peak10, flood, peak_hour = _rates(conn, where, dialect)
        top, chatter = _pairs(conn, where, dialect)
        severities = _by_severity(conn, where, dialect, now)
        stale_now = _stale_now(conn, now, sites)
        false = false_alarm_rates(conn, start, end, devices, sites=sites)
    span_s = (end - start).total_seconds()
    intervals = -(-int(span_s) // SLOT_S)  # 10-minute intervals the period spans
    acknowledged = sum(s["acknowledged"] for s in severities.values())
    by_priority = {p: 0 for p in ("high", "medium", "low")}
    for severity, s in severities.items():
        by_priority[PRIORITY_OF.get(severity or "", "low")] += s["alerts"]
    top_alerts = sum(n for _, _, n in top)
    rates = false["per_100_devices_per_year"]
    values: dict[str, float | int | None] = {
        "alerts": total,
        "alerts_per_hour_avg": round(total / span_s * 3600, 3),
        "alerts_per_hour_peak": peak_hour,
        "alerts_per_10min_avg": round(total / span_s * SLOT_S, 3),
        "alerts_per_10min_peak": peak10,
        "flood_intervals_pct": _pct(flood, intervals),
        "top10_share_pct": _pct(top_alerts, total),
        "chattering_pairs": len(chatter),
        "stale_alerts": sum(s["stale"] for s in severities.values()),
        "stale_open_now": stale_now,
        "severity_high_pct": _pct(by_priority["high"], total),
        "severity_medium_pct": _pct(by_priority["medium"], total),
        "severity_low_pct": _pct(by_priority["low"], total),
        "mtta_s": round(sum(s["ack_us"] for s in severities.values()) / acknowledged / 1e6, 3)
        if acknowledged else None,
        "false_alarms": false["false_alarms"],
        "unwanted_alarms": false["unwanted_alarms"],
        "false_unwanted_per_100_devices_per_year": rates["both"] if devices else None,
        "devices_with_3_false_unwanted": sum(
            1 for d in false["by_device"] if d["false_alarm"] + d["unwanted"] >= 3),
    }
    figures = []
    for name, value in values.items():
        ref = REFERENCES[name]
        figures.append({
            "figure": name, "value": value,
            "reference": None if ref is None else {
                "op": ref.op, "target": ref.target, "limit": ref.limit, "source": ref.source},
            "verdict": None if ref is None else ref.verdict(value),
        })
    return {
        "from": start.isoformat(), "to": end.isoformat(), "generated_at": now.isoformat(),
        "sites": None if sites is None else sorted(sites),
        "intervals": intervals, "flood_intervals": flood, "devices": devices,
        "acknowledged": acknowledged,
        "figures": figures,
        "top10": [{"rule_id": r, "device_id": d, "alerts": n, "share_pct": _pct(n, total)}
                  for r, d, n in top],
        "chattering": chatter[:TOP],
        "by_severity": {
            s or "none": {"priority": PRIORITY_OF.get(s or "", "low"), "alerts": v["alerts"],
                          "share_pct": _pct(v["alerts"], total),
                          "mtta_s": round(v["ack_us"] / v["acknowledged"] / 1e6, 3)
                          if v["acknowledged"] else None}
            for s, v in sorted(severities.items(), key=lambda kv: kv[0] or "")},
        "severity_mapping": dict(PRIORITY_OF),
        "false_alarms_by_device": false["by_device"][:TOP],
    }


CSV_COLUMNS = ["from", "to", "site", "figure", "value", "reference", "verdict"]


def alarm_health_csv(report: dict[str, Any]) -> str:
    """One row per figure: the period, the figure, its value, its reference and the verdict."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    site = ",".join(report["sites"]) if report["sites"] is not None else "all"
    for f in report["figures"]:
        ref = REFERENCES[f["figure"]]
        writer.writerow([report["from"], report["to"], site, f["figure"],
                         "" if f["value"] is None else f["value"],
                         "" if ref is None else ref.text(), f["verdict"] or ""])
    return out.getvalue()
