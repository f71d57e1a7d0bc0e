"""GET /api/v1/oncall: who is on duty now in each department, and each escalation chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import AUTH_ERRORS, Reader
from api.endpoints import API_PREFIX, RuntimeDep
from api.endpoints.telemetry import parse_instant
from rules.people.oncall import OnCall

router = APIRouter(prefix=API_PREFIX, tags=["people"])


class PersonOut(BaseModel):
    """A person and how to reach them."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None


class LevelOut(BaseModel):
    """One level of an escalation chain."""

    level: int
    after_minutes: float
    person: PersonOut | None  # None: the level is "on duty" and nobody is


class DutyOut(BaseModel):
    """One department's person on duty and chain."""

    department: str
    on_duty: PersonOut | None
    until: datetime | None  # end of the current shift
    escalation: list[LevelOut]
    gaps: list[str]  # week times with nobody on duty (local), e.g. "sat 20:00 - sun 08:00"


class OnCallOut(BaseModel):
    """Who is on duty at `at`, per department."""

    at: datetime
    timezone: str | None  # the site's time zone of the rotas; None without SITEWATCH_ONCALL
    departments: list[DutyOut]


def _person(pid: str | None, oncall: OnCall) -> PersonOut | None:
    if pid is None:
        return None
    p = oncall.config.people[pid]
    return PersonOut(id=pid, name=p.name, email=p.email, phone=p.phone)


def duty_report(oncall: OnCall | None, at: datetime) -> dict[str, Any]:
    """The on-call answer as plain data (used by the API and the CLI)."""
    if oncall is None:
        return OnCallOut(at=at, timezone=None, departments=[]).model_dump(mode="json")
    out = []
    for dept in oncall.departments():
        duty = oncall.on_duty(dept, at)
        out.append(DutyOut(
            department=dept,
            on_duty=_person(duty.person_id, oncall) if duty else None,
            until=duty.until if duty else None,
            escalation=[LevelOut(level=lv.level, after_minutes=lv.after_s / 60,
                                 person=_person(lv.person_id, oncall))
                        for lv in oncall.chain(dept, at)],
            gaps=oncall.gaps[dept],
        ))
    return OnCallOut(at=at, timezone=oncall.config.timezone,
                     departments=out).model_dump(mode="json")


@router.get("/oncall", response_model=OnCallOut, responses=AUTH_ERRORS)
def get_oncall(
    rt: RuntimeDep, _: Reader,
    at: str | None = Query(None, description="Unix seconds or ISO time; default now"),
) -> dict[str, Any]:
    """Who is on duty in each department (now, or `at`), with the escalation chains."""
    when = parse_instant("at", at) if at is not None else rt.clock()
    return duty_report(rt.oncall, datetime.fromtimestamp(when, UTC))
