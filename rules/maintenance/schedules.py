"""Preventive maintenance: schedules (rules/maintenance/config.py) that open inspection and service
tickets for a device, zone or site, once per slot, catching up once after downtime."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import IntegrityError

from devices.reading import Reading
from devices.registry import Registry
from rules.db.database import WRITE
from rules.db.schema import schedule_runs as runs
from rules.incidents.record import Incident
from rules.maintenance.config import Schedule

if TYPE_CHECKING:
    from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.schedules")

BASELINE = "start"  # slot of the row that marks when a (schedule, target) was first watched
# Widening look-backs for the newest missed calendar slot: the search stops in the first
# window that holds one, so a minutely schedule after a year of downtime stays cheap.
_LOOKBACKS = [timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=400),
              timedelta(days=3660)]



@dataclass(frozen=True)
class Target:
    """What a scheduled ticket is about: a device, a zone or a whole site."""

    key: str  # device:<id> | zone:<site>/<zone> | site:<site>
    site: str
    zone: str | None = None
    device_id: str | None = None
    label: str = ""


def targets(schedule: Schedule, registry: Registry) -> list[Target]:
    """The schedule's targets in this registry, in a stable order."""
    found: dict[str, Target] = {}
    for d in sorted(registry.devices.values(), key=lambda d: d.id):
        if schedule.device_kinds and d.kind not in schedule.device_kinds:
            continue
        if schedule.sites and d.site not in schedule.sites:
            continue
        if schedule.per == "device":
            t = Target(f"device:{d.id}", d.site, d.zone, d.id, d.name or d.id)
        elif schedule.per == "zone":
            t = Target(f"zone:{d.site}/{d.zone}", d.site, d.zone, None,
                       registry.zones.get(d.zone, d.zone))
        else:
            t = Target(f"site:{d.site}", d.site, None, None, d.site)
        found.setdefault(t.key, t)
    return list(found.values())


def latest_slot(trigger: CronTrigger, after: float, now: float) -> datetime | None:
    """The newest fire time in (after, now], or None when there is none."""
    end = datetime.fromtimestamp(now, UTC)
    for lookback in _LOOKBACKS:
        start = max(datetime.fromtimestamp(after, UTC), end - lookback)
        newest = None
        t = trigger.get_next_fire_time(start, start)
        while t is not None and t <= end:
            newest = t
            t = trigger.get_next_fire_time(t, t)
        if newest is not None or start.timestamp() <= after:
            return newest
    return None


class PreventiveMaintenance:
    """Opens the schedules' tickets: calendar slots from `run_due(now)` (a scheduler job),
    meter crossings from `observe(reading)`. The runs table remembers the last slot per
    (schedule, target): a slot never opens two tickets, and downtime costs one ticket."""

    def __init__(
        self,
        engine: sa.Engine,
        incidents: IncidentService,
        schedules: list[Schedule],
        registry: Registry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._incidents = incidents
        self._clock = clock
        self._schedules = schedules
        self.use_registry(registry)
        self._last_multiple: dict[tuple[str, str], float] = {}  # cache of the runs table
        self._started_at = clock()
        self._recovered = False

    def use_registry(self, registry: Registry) -> None:
        """Targets from this registry (at start, and when devices change at runtime)."""
        self._calendar = [(s, s.trigger(), targets(s, registry)) for s in self._schedules
                          if s.cron]
        meters: dict[str, list[tuple[Schedule, Target]]] = {}  # device id -> schedules
        for s in self._schedules:
            if s.meter is not None:
                for t in targets(s, registry):
                    meters.setdefault(t.device_id or "", []).append((s, t))
        self._meters = meters

    def run_due(
        self, now: float | None = None, sites: Collection[str] | None = None,  # None: all
    ) -> list[Incident]:
        """Open one ticket per calendar (schedule, target) whose newest slot has no run yet."""
        now = self._clock() if now is None else now
        opened = [] if self._recovered else self._recover()
        self._recovered = True
        for schedule, trigger, schedule_targets in self._calendar:
            for target in schedule_targets:
                if sites is not None and target.site not in sites:
                    continue  # another instance serves it (SPEC §11)
                last = self._last_run(schedule.id, target.key)
                if last is None:
                    self._claim(schedule, target, BASELINE, now, now)
                    continue
                slot = latest_slot(trigger, last, now)
                if slot is None:
                    continue
                note = f"Due {slot.isoformat()}."
                run_id = self._claim(schedule, target, slot.isoformat(), slot.timestamp(), now)
                if run_id is not None:
                    opened.append(self._open(run_id, schedule, target, note, now))
        return opened

    def observe(self, reading: Reading) -> None:
        """The reading hook (RulesWorker observers): see `meter_tickets`."""
        self.meter_tickets(reading)

    def meter_tickets(self, reading: Reading) -> list[Incident]:
        """Meter schedules: open a ticket when a reading crosses a new multiple."""
        if reading.channel != "telemetry" or reading.device_id not in self._meters:
            return []
        opened = []
        for schedule, target in self._meters[reading.device_id]:
            assert schedule.meter is not None
            value = reading.metrics.get(schedule.meter.metric)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            multiple = float(math.floor(value / schedule.meter.every))
            key = (schedule.id, target.key)
            if key not in self._last_multiple:
                last = self._last_run(schedule.id, target.key)
                if last is None:  # first sight: whether earlier service was done is unknown
                    self._claim(schedule, target, BASELINE, multiple, reading.ts)
                    self._last_multiple[key] = multiple
                    continue
                self._last_multiple[key] = last
            if multiple <= self._last_multiple[key] or multiple < 1:
                continue
            self._last_multiple[key] = multiple
            mark = multiple * schedule.meter.every
            slot = f"{mark:g}"
            note = f"{schedule.meter.metric} reached {mark:g} (reading {value:g})."
            run_id = self._claim(schedule, target, slot, multiple, reading.ts)
            if run_id is not None:
                opened.append(self._open(run_id, schedule, target, note, reading.ts))
        return opened

    def _last_run(self, schedule_id: str, target: str) -> float | None:
        with self._engine.connect() as conn:
            value = conn.scalar(
                sa.select(sa.func.max(runs.c.slot_value)).where(
                    runs.c.schedule_id == schedule_id, runs.c.target == target
                )
            )
        return None if value is None else float(value)

    def _claim(
        self, schedule: Schedule, target: Target, slot: str, value: float, now: float
    ) -> int | None:
        """Record the slot; None when it was already recorded (the unique key says so)."""
        row = {"schedule_id": schedule.id, "target": target.key, "slot": slot,
               "slot_value": value, "incident_id": None, "created_at": now}
        try:
            with self._writer.begin() as conn:
                key = conn.execute(runs.insert().values(**row)).inserted_primary_key
        except IntegrityError:
            return None
        assert key is not None
        return int(key[0])

    def _open(
        self, run_id: int, schedule: Schedule, target: Target, note: str, now: float
    ) -> Incident:
        description = "\n".join(x for x in (schedule.description.strip(), note) if x)
        ticket = self._incidents.open_ticket(
            title=f"{schedule.title}: {target.label}",
            description=description,
            department=schedule.department,
            priority=schedule.priority,
            actor=f"schedule:{schedule.id}",
            site=target.site,
            zone=target.zone,
            device_id=target.device_id,
            now=now,
            checklist=schedule.checklist,
            audited=False,  # the schedule's, not a person's
        )
        with self._writer.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(incident_id=ticket.id))
        return ticket

    def _recover(self) -> list[Incident]:
        """Open the tickets of slots claimed by a previous run that stopped before opening."""
        by_id = {s.id: s for s, _, _ in self._calendar}
        by_id.update({s.id: s for pairs in self._meters.values() for s, _ in pairs})
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs).where(
                    runs.c.incident_id.is_(None),
                    runs.c.slot != BASELINE,
                    runs.c.created_at < self._started_at,
                )
            ).all()
        opened = []
        for row in rows:
            schedule = by_id.get(row.schedule_id)
            target = self._target(row.schedule_id, row.target)
            if schedule is not None and target is not None:
                note = f"Slot {row.slot} (recovered after a restart)."
                opened.append(self._open(row.id, schedule, target, note, self._clock()))
        return opened

    def _target(self, schedule_id: str, key: str) -> Target | None:
        for s, _, ts in self._calendar:
            if s.id == schedule_id:
                return next((t for t in ts if t.key == key), None)
        for pairs in self._meters.values():
            for s, t in pairs:
                if s.id == schedule_id and t.key == key:
                    return t
        return None
