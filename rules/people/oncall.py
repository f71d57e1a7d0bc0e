"""Who is on duty now, per department: weekly rotas in the site's time zone (correct across
daylight-saving changes: a shift is wall-clock time there), gaps named, overlaps refused,
and the escalation chain from the person on duty to the next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rules.people.oncall_config import (
    DAYS,
    OnCallConfigError,
    OnCallFile,
    Person,
    Shift,
    load_oncall,
    minutes,
    parse_oncall,
)

WEEK = 7 * 1440  # minutes


@dataclass(frozen=True)
class OnDuty:
    """A department's person on duty at an instant, and their shift's end."""

    department: str
    person_id: str
    person: Person
    until: datetime  # aware, in the site's time zone


@dataclass(frozen=True)
class Level:
    """One level of an escalation chain, resolved to a person."""

    level: int  # 1 = the person on duty
    after_s: float  # seconds after the incident opened
    person_id: str | None  # None: nobody on duty for an `on_duty` step
    person: Person | None


def _spans(shift: Shift) -> list[tuple[int, int]]:
    """The week-minute ranges [a, b) a shift covers (a shift past midnight ends the next day)."""
    out = []
    start, end = minutes(shift.start), minutes(shift.end)
    for day in shift.days:
        a = DAYS.index(day) * 1440 + start
        b = DAYS.index(day) * 1440 + (end if end > start else end + 1440)
        out += [(a, min(b, WEEK)), (0, b - WEEK)] if b > WEEK else [(a, b)]
    return [(a, b) for a, b in out if b > a]


def _label(minute: int) -> str:
    return f"{DAYS[minute // 1440]} {minute % 1440 // 60:02d}:{minute % 60:02d}"


class OnCall:
    """The rotas and escalation chains of every department."""

    def __init__(self, config: OnCallFile, source: str = "<oncall>") -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self._week: dict[str, list[tuple[int, int, Shift]]] = {}
        self.gaps: dict[str, list[str]] = {}  # department -> "sat 20:00 - sun 08:00", ...
        for dept, rota in config.departments.items():
            spans = sorted(((a, b, s) for s in rota.rota for a, b in _spans(s)),
                           key=lambda span: (span[0], span[1]))
            for (_, b1, s1), (a2, _, s2) in zip(spans, spans[1:], strict=False):
                if a2 < b1:
                    raise OnCallConfigError(
                        f"{source}:{s2.line}: {dept}: this shift overlaps the one on line "
                        f"{s1.line} at {_label(a2)}")
            self._week[dept] = spans
            self.gaps[dept] = self._gaps(spans)

    @staticmethod
    def _gaps(spans: list[tuple[int, int, Shift]]) -> list[str]:
        out, at = [], 0
        for a, b, _ in spans:
            if a > at:
                out.append(f"{_label(at)} - {_label(a % WEEK)}")
            at = max(at, b)
        if at < WEEK:
            out.append(f"{_label(at)} - {_label(0)}")
        return out

    def on_duty(self, department: str, at: datetime) -> OnDuty | None:
        """Who is on duty in `department` at the aware instant `at` (None: nobody)."""
        local = at.astimezone(self.zone)
        minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        for a, b, shift in self._week.get(department, []):
            if a <= minute < b:
                midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
                week_start = midnight - timedelta(days=local.weekday())
                end = (week_start.replace(tzinfo=None) + timedelta(minutes=b)).replace(
                    tzinfo=self.zone)  # wall-clock end, so a DST change keeps "20:00" at 20:00
                return OnDuty(department, shift.person,
                              self.config.people[shift.person], end)
        return None

    def chain(self, department: str, at: datetime) -> list[Level]:
        """The escalation chain of `department` as it stands at `at`."""
        rota = self.config.departments.get(department)  # type: ignore[call-overload]
        if rota is None:
            return []
        levels = []
        for i, step in enumerate(rota.escalation, start=1):
            if step.to == "on_duty":
                duty = self.on_duty(department, at)
                pid = duty.person_id if duty else None
            else:
                pid = step.to
            levels.append(Level(i, float(step.after), pid,
                                self.config.people.get(pid) if pid else None))
        return levels

    def level_due(self, department: str, opened_at: datetime, now: datetime) -> Level | None:
        """The highest level reached by an incident unacknowledged since `opened_at`."""
        waited = (now - opened_at).total_seconds()
        due = [lv for lv in self.chain(department, now) if lv.after_s <= waited]
        return due[-1] if due else None

    def departments(self) -> list[str]:
        """Departments with a rota."""
        return list(self.config.departments)


def load(path: str | Path) -> OnCall:
    """The on-call file at `path`, checked (overlaps refused with file and line)."""
    return OnCall(load_oncall(path), str(path))


def parse(text: str, source: str = "<oncall>") -> OnCall:
    """The on-call YAML text, checked."""
    return OnCall(parse_oncall(text, source), source)
