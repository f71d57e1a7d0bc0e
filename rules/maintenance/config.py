"""Preventive-maintenance schedules as configured: the YAML model (calendar or meter trigger,
ticket, targets) and its loading, with errors naming the file, schedule and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.kinds import KINDS
from rules.engine.parts import Checklist, Department, Priority
from rules.yaml_config import parse_yaml_model


class ScheduleConfigError(ValueError):
    """The schedules file is unreadable or invalid; the message names the file and field."""


class Meter(BaseModel):
    """A meter-based trigger: a ticket each time `metric` crosses a multiple of `every`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    metric: str
    every: float = Field(gt=0)  # in the metric's unit, e.g. 2000 (runtime hours)


class Schedule(BaseModel):
    """One preventive-maintenance schedule: what ticket, for which targets, on what trigger."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    title: str
    description: str = ""
    department: Department = "maintenance"
    priority: Priority = "P3"
    cron: str | None = None  # crontab "minute hour day month weekday", in `timezone`
    timezone: str = "UTC"
    meter: Meter | None = None
    per: Literal["device", "zone", "site"] = "device"  # one ticket per target of this kind
    device_kinds: list[str] = []  # only devices of these kinds (or zones/sites holding them)
    sites: list[str] = []  # only these sites; empty: every site in the registry
    checklist: Checklist = ()  # inspection items each ticket carries, answered one by one

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.cron is None) == (self.meter is None):
            raise ValueError("a schedule has exactly one of cron or meter")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))
            except ValueError as e:
                raise ValueError(f"cron {self.cron!r}: {e}") from e
        if self.meter is not None and self.per != "device":
            raise ValueError("a meter schedule is per device")
        unknown = [k for k in self.device_kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown device kinds {unknown}")
        return self

    def trigger(self) -> CronTrigger:
        """The calendar trigger (cron schedules only)."""
        assert self.cron is not None
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))


class _SchedulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedules: list[Schedule] = []


def parse_schedules(text: str, source: str = "<schedules>") -> list[Schedule]:
    """Parse schedules YAML (`schedules: [...]`); errors name the source and field."""
    items = parse_yaml_model(
        text, source, _SchedulesFile, ScheduleConfigError, entries=("schedules", "schedule")
    ).schedules
    ids = [s.id for s in items]
    if len(ids) != len(set(ids)):
        raise ScheduleConfigError(f"{source}: schedule ids must be unique")
    return items


def load_schedules(path: str | Path | None = None) -> list[Schedule]:
    """Schedules from a YAML file, or the built-in ones (schedules.yaml here) when None."""
    if path is None:
        text = resources.files("rules.maintenance").joinpath("schedules.yaml").read_text("utf-8")
        return parse_schedules(text, "built-in schedules.yaml")
    p = Path(path)
    try:
        return parse_schedules(p.read_text("utf-8"), str(p))
    except OSError as e:
        raise ScheduleConfigError(f"{p}: cannot read: {e}") from e
