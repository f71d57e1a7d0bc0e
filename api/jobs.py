"""Periodic work inside `sitewatch serve`: APScheduler 3.x runs plain callables of `now`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from rules.db.device_states import LAST_SEEN_EVERY_S

if TYPE_CHECKING:
    from rules.db.device_states import DeviceStateSaver
    from rules.incidents.service import IncidentService
    from rules.maintenance.schedules import PreventiveMaintenance

log = logging.getLogger("sitewatch.jobs")


@dataclass(frozen=True)
class Job:
    """A periodic piece of work: `run(now)` every `every_s` seconds (now in Unix seconds)."""

    name: str
    run: Callable[[float], object]
    every_s: float  # seconds between runs; a run still going when the next is due is skipped


class Jobs:
    """Runs each Job on a BackgroundScheduler thread pool; a failing run is logged and
    counted, never fatal. All state lives in the database, so a restart loses nothing: the
    first run of every job happens at start and recomputes from the stored deadlines."""

    def __init__(self, jobs: Sequence[Job], *, clock: Callable[[], float] = time.time) -> None:
        names = [j.name for j in jobs]
        if len(names) != len(set(names)):
            raise ValueError("job names must be unique")
        self._jobs = list(jobs)
        self._clock = clock
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()
        self.runs: dict[str, int] = {j.name: 0 for j in jobs}  # completed runs per job
        self.failures: dict[str, int] = {j.name: 0 for j in jobs}  # runs that raised

    def run_once(self, job: Job, now: float | None = None) -> bool:
        """Run one job now (the scheduler's entry point, and the tests'); False if it raised."""
        now = self._clock() if now is None else now
        try:
            job.run(now)
        except Exception:
            log.exception("job %s failed", job.name)
            with self._lock:
                self.failures[job.name] += 1
            return False
        with self._lock:
            self.runs[job.name] += 1
        return True

    def run_all(self, now: float | None = None) -> None:
        """Run every job once, in order, at the same `now`."""
        for job in self._jobs:
            self.run_once(job, now)

    def start(self) -> None:
        """Start the scheduler; every job runs within a second, then at its interval.

        The first runs are spread over that second, and each job keeps its phase: started
        together, the one-second jobs ran together every second and the five-second jobs every
        fifth, a burst of threads and queries that a fire alarm waited behind (100-300 ms,
        BENCHMARKS.md, "Garbage-collection pauses, job bursts").
        """
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(timezone=UTC)
        start = datetime.now(UTC)
        for n, job in enumerate(self._jobs):
            first = start + timedelta(seconds=n / len(self._jobs))
            scheduler.add_job(
                self.run_once,
                IntervalTrigger(seconds=job.every_s, timezone=UTC),
                args=[job],
                id=job.name,
                name=job.name,
                next_run_time=first,
                coalesce=True,  # runs missed while busy collapse into one
                max_instances=1,  # never two runs of the same job at once
                misfire_grace_time=None,  # late is better than never
            )
        scheduler.start()
        self._scheduler = scheduler

    @property
    def running(self) -> bool:
        """True while the scheduler thread runs (liveness)."""
        return self._scheduler is not None and bool(self._scheduler.running)

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let running jobs finish."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None


def scheduled_work(
    incidents: IncidentService,
    *,
    maintenance: PreventiveMaintenance | None = None,
    extra: Sequence[Job] = (),
    clocks_every_s: float = 5.0,  # seconds between SLA/escalation sweeps
    schedules_every_s: float = 60.0,  # seconds between preventive-maintenance checks
    sites: Callable[[], Collection[str] | None] = lambda: None,  # served now (§11); None: all
) -> list[Job]:
    """The standard jobs: escalation and SLA sweeps, preventive maintenance, plus `extra`."""
    jobs = [
        Job("escalate", lambda now: incidents.escalate_due(now, sites()), clocks_every_s),
        Job("sla", lambda now: incidents.flag_sla_breaches(now, sites()), clocks_every_s),
    ]
    if maintenance is not None:
        jobs.append(Job("schedules", lambda now: maintenance.run_due(now, sites()),
                        schedules_every_s))
    return [*jobs, *extra]


def device_states_job(saver: DeviceStateSaver, every_s: float = 5.0) -> Job:
    """The periodic save of device liveness (a reporting device's last seen at most once per
    LAST_SEEN_EVERY_S)."""
    return Job("device-states", lambda now: saver.save_changed(LAST_SEEN_EVERY_S), every_s)
