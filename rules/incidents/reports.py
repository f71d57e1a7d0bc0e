"""Period reports (SPEC §1, evaluation and improvement): incidents by department, kind and
grade; mean time to acknowledge and to resolve; SLA compliance per department."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from rules.db.schema import incidents as incidents_table
from rules.incidents.record import PRIORITIES, SEVERITIES, Incident
from rules.incidents.rows import select_incidents, to_incident

GRADES = (*SEVERITIES, *PRIORITIES, "none")


@dataclass
class Figures:
    """The measures of one group of incidents (a department, or all of them)."""

    incidents: int = 0
    alerts: int = 0
    tickets: int = 0
    acknowledged: int = 0  # alerts acknowledged + tickets responded to
    resolved: int = 0
    respond_due: int = 0  # tickets whose respond-by has passed or that were responded to
    respond_met: int = 0
    resolve_due: int = 0  # tickets whose resolve-by has passed or that were resolved
    resolve_met: int = 0
    sla_due: int = 0  # tickets with at least one deadline come due
    sla_met: int = 0  # ... that met every deadline come due
    grades: Counter[str] = field(default_factory=Counter)  # severity or priority -> count
    _ack_s: list[float] = field(default_factory=list, repr=False)
    _resolve_s: list[float] = field(default_factory=list, repr=False)

    def add(self, inc: Incident, now: datetime) -> None:
        """Count one incident into these figures."""
        self.incidents += 1
        self.grades[inc.severity or inc.priority or "none"] += 1
        if inc.kind == "alert":
            self.alerts += 1
            responded = inc.acknowledged_at
        else:
            self.tickets += 1
            # A ticket resolved without being assigned or started was answered by resolving.
            resolved = inc.resolved_at if inc.state == "resolved" else None
            responded = inc.acknowledged_at or resolved
        if responded is not None:
            self.acknowledged += 1
            self._ack_s.append((responded - inc.opened_at).total_seconds())
        if inc.state == "resolved" and inc.resolved_at is not None:
            self.resolved += 1
            self._resolve_s.append((inc.resolved_at - inc.opened_at).total_seconds())
        if inc.kind == "ticket" and inc.state != "cancelled":
            self._add_sla(inc, responded, now)

    def _add_sla(self, inc: Incident, responded: datetime | None, now: datetime) -> None:
        due = met = 0
        if inc.respond_by is not None and (responded is not None or inc.respond_by <= now):
            self.respond_due += 1
            due += 1
            if responded is not None and responded <= inc.respond_by:
                self.respond_met += 1
                met += 1
        resolved = inc.resolved_at if inc.state == "resolved" else None
        if inc.resolve_by is not None and (resolved is not None or inc.resolve_by <= now):
            self.resolve_due += 1
            due += 1
            if resolved is not None and resolved <= inc.resolve_by:
                self.resolve_met += 1
                met += 1
        if due:
            self.sla_due += 1
            self.sla_met += int(met == due)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures; means in seconds and percentages are None when undefined."""
        return {
            "incidents": self.incidents,
            "alerts": self.alerts,
            "tickets": self.tickets,
            "by_grade": {g: self.grades[g] for g in GRADES if self.grades[g]},
            "acknowledged": self.acknowledged,
            "mtta_s": _mean(self._ack_s),
            "resolved": self.resolved,
            "mttr_s": _mean(self._resolve_s),
            "respond_due": self.respond_due,
            "respond_met": self.respond_met,
            "respond_compliance_pct": _pct(self.respond_met, self.respond_due),
            "resolve_due": self.resolve_due,
            "resolve_met": self.resolve_met,
            "resolve_compliance_pct": _pct(self.resolve_met, self.resolve_due),
            "sla_due": self.sla_due,
            "sla_met": self.sla_met,
            "sla_compliance_pct": _pct(self.sla_met, self.sla_due),
        }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def summarise(
    incidents: Iterable[Incident], start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """The report of the incidents opened in [start, end), with deadlines judged at `now`."""
    overall = Figures()
    departments: dict[str, Figures] = {}
    by_department: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    by_grade: Counter[str] = Counter()
    for inc in incidents:
        overall.add(inc, now)
        departments.setdefault(inc.department, Figures()).add(inc, now)
        by_department[inc.department] += 1
        by_kind[inc.kind] += 1
        by_grade[inc.severity or inc.priority or "none"] += 1
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "generated_at": now.isoformat(),
        "by_department": dict(sorted(by_department.items())),
        "by_kind": dict(sorted(by_kind.items())),
        "by_grade": dict(sorted(by_grade.items())),
        "overall": overall.as_dict(),
        "departments": {d: f.as_dict() for d, f in sorted(departments.items())},
    }


def build_report(
    engine: sa.Engine, start: datetime, end: datetime, now: datetime,
    sites: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The report of the period [start, end) from the incidents table (only `sites` if given)."""
    c = incidents_table.c
    scope = [] if sites is None else [c.site.in_(sorted(sites))]
    query = (
        select_incidents().where(c.opened_at >= start, c.opened_at < end, *scope).order_by(c.id)
    )
    with engine.connect() as conn:
        rows = [to_incident(r) for r in conn.execute(query)]
    return summarise(rows, start, end, now)


CSV_COLUMNS = ["from", "to", "department", "incidents", "alerts", "tickets",
               *SEVERITIES, *PRIORITIES,
               "acknowledged", "mtta_s",
               "resolved", "mttr_s", "respond_due", "respond_met", "respond_compliance_pct",
               "resolve_due", "resolve_met", "resolve_compliance_pct", "sla_due", "sla_met",
               "sla_compliance_pct", "ratings", "rating_average"]


def report_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per department, then an `all` row; empty cells for None.

    Every row names the period (`from`, `to`, RFC 3339), so a file read alone says what it covers.
    `ratings`, `rating_average`: the requesters' ratings given in the period (report["satisfaction"]
    when present: SPEC §8.4's satisfaction by department and period).
    """
    rated = report.get("satisfaction") or {"overall": {}, "departments": {}}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rated_only: dict[str, dict[str, Any]] = {
        d: {"by_grade": {}} for d in rated["departments"] if d not in report["departments"]}
    rows = [*report["departments"].items(), *rated_only.items(), ("all", report["overall"])]
    for department, figures in rows:
        given = (rated["overall"] if department == "all"
                 else rated["departments"].get(department, {}))
        values = {"from": report["from"], "to": report["to"], "department": department, **figures,
                  "ratings": given.get("count", 0), "rating_average": given.get("average")}
        values.update({g: figures["by_grade"].get(g, 0) for g in (*SEVERITIES, *PRIORITIES)})
        writer.writerow(["" if values.get(k) is None else values[k] for k in CSV_COLUMNS])
    return out.getvalue()
