"""Operations as one object for the API, the CLI and the scheduler: each action one write
transaction through the incident service, so its timeline entries are published as usual."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from devices.registry import Registry
from rules.engine.models import RulePack
from rules.incidents.record import Incident
from rules.incidents.service import IncidentService
from rules.operations import (
    disablements,
    seen,
    shelving,
    silences,
    walktests,
    windows,
)
from rules.operations.errors import InvalidField
from rules.operations.gate import OperationsGate
from rules.operations.groups_emergencies import GroupsAndEmergencies
from rules.operations.notifications import NotificationRules
from rules.operations.plans import Plan
from rules.operations.records import Disablement, Shelving, Silence, WalkTest
from rules.operations.status import status_due, status_summary
from rules.operations.targets import (
    Target,
    check_matchers,
    check_role,
    check_text,
    check_until,
    life_safety,
    resolve_target,
)
from rules.operations.windows import Window

Entries = list[Any]


class Operations(GroupsAndEmergencies):
    """Disablements, walk tests, shelving, silences, windows, groups and emergencies."""

    def __init__(self, engine: sa.Engine, incidents: IncidentService, registry: Registry,
                 pack: RulePack, plans: Mapping[str, Plan],
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._incidents = incidents
        self.registry = registry
        self._pack = pack
        self.plans = dict(plans)
        self._clock = clock
        self.gate = OperationsGate()
        self._present_after_disable = seen.presence(pack, test=False)
        self._present_after_test = seen.presence(pack, test=True)
        self.notifications = NotificationRules(engine, clock)

    def install(self) -> Operations:
        """Let the incident service consult the gate on every signal; returns self."""
        self._incidents.install_gate(self.gate)
        return self

    def now(self) -> datetime:
        """The clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self._clock(), UTC)

    # --- disablements ---------------------------------------------------------------------
    def disable(self, target: Mapping[str, Any], *, reason: str, until: datetime, actor: str,
                role: str) -> Disablement:
        """Disable a target (≤ 7 days) as `role` (NotAllowed, UnknownTarget, InvalidField)."""
        now = self.now()
        tgt = resolve_target(self.registry, target)
        check_role(role, tgt, self.registry, "disable")
        text = check_text(reason, "reason")
        check_until(until, now, disablements.DISABLE_MAX)
        safety = life_safety(tgt, self.registry)
        made = self._incidents.write(lambda conn: disablements.create(
            conn, tgt, reason=text, until=until, actor=actor, now=now, life_safety=safety,
            sla=self._incidents.sla))
        self.gate.invalidate()
        return made

    def end_disablement(self, disablement_id: int, *, actor: str, role: str) -> Disablement:
        """End a disablement early; what is still present raises at once (AlreadyEnded)."""
        with self._engine.connect() as conn:
            d = disablements.get(conn, disablement_id)
        check_role(role, Target(d.site, d.zone, d.device_id), self.registry, "enable")
        now = self.now()
        self.gate.invalidate()  # the replays inside must not see it in force
        ended = self._incidents.write(lambda conn: disablements.end(
            conn, disablement_id, actor=actor, at=now, present=self._present_after_disable,
            replay=self._replay))
        self.gate.invalidate()
        return ended

    def disablement(self, disablement_id: int) -> tuple[Disablement, list[seen.SeenSignal]]:
        """One disablement and what it hid."""
        with self._engine.connect() as conn:
            return (disablements.get(conn, disablement_id),
                    disablements.suppressed(conn, disablement_id))

    def disablements(self, *, active: bool = False, limit: int = 500,
                     offset: int = 0) -> list[Disablement]:
        """Disablements newest first (only those in force with `active`)."""
        with self._engine.connect() as conn:
            return disablements.listed(conn, active_at=self.now() if active else None,
                                       limit=limit, offset=offset)

    # --- walk tests -----------------------------------------------------------------------
    def start_test(self, target: Mapping[str, Any], *, until: datetime, note: str,
                   actor: str) -> WalkTest:
        """Put a target in test (≤ 24 h)."""
        now = self.now()
        tgt = resolve_target(self.registry, target)
        text = check_text(note, "note", required=False)
        check_until(until, now, walktests.TEST_MAX)
        made = self._incidents.write(lambda conn: (walktests.create(
            conn, tgt, note=text, until=until, actor=actor, now=now), []))
        self.gate.invalidate()
        return made

    def end_test(self, test_id: int, *, actor: str) -> WalkTest:
        """End a walk test: its alerts resolve, what still holds raises for real."""
        now = self.now()
        self.gate.invalidate()
        ended = self._incidents.write(lambda conn: walktests.end(
            conn, test_id, actor=actor, at=now, present=self._present_after_test,
            replay=self._replay))
        self.gate.invalidate()
        return ended

    def test(self, test_id: int) -> tuple[WalkTest, list[dict[str, Any]]]:
        """One walk test and its device report (first alarm per device, None = untested)."""
        with self._engine.connect() as conn:
            test = walktests.get(conn, test_id)
            return test, walktests.report(conn, test, self.registry)

    def tests(self, *, active: bool = False, limit: int = 500, offset: int = 0) -> list[WalkTest]:
        """Walk tests newest first."""
        with self._engine.connect() as conn:
            return walktests.listed(conn, active_at=self.now() if active else None,
                                    limit=limit, offset=offset)

    # --- shelving -------------------------------------------------------------------------
    def shelve(self, incident_id: int, *, until: datetime, note: str, actor: str) -> Shelving:
        """Shelve a non-critical, non-life-safety alert (≤ 24 h)."""
        now = self.now()
        text = check_text(note, "note", required=False)
        check_until(until, now, shelving.SHELVE_MAX)
        alert = self._incidents.get(incident_id)
        device = self.registry.devices.get(alert.device_id or "")
        safety = device is not None and device.spec.life_safety
        return self._incidents.write(lambda conn: shelving.shelve(
            conn, incident_id, until=until, note=text, actor=actor, now=now, life_safety=safety))

    def unshelve(self, shelving_id: int, *, actor: str) -> Shelving:
        """Return a shelved alert now."""
        now = self.now()
        return self._incidents.write(lambda conn: shelving.end(
            conn, shelving_id, actor=actor, at=now, escalation=self._next_escalation))

    def shelvings(self, *, active: bool = False, limit: int = 500,
                  offset: int = 0) -> list[Shelving]:
        """Shelvings newest first."""
        with self._engine.connect() as conn:
            return shelving.listed(conn, active_at=self.now() if active else None,
                                   limit=limit, offset=offset)

    def shelving(self, shelving_id: int) -> Shelving:
        """One shelving."""
        with self._engine.connect() as conn:
            return shelving.get(conn, shelving_id)

    # --- silences -------------------------------------------------------------------------
    def silence(self, matchers: Mapping[str, str | None], *, until: datetime, comment: str,
                actor: str) -> Silence:
        """Silence matching incidents' notifications (≤ 7 days; never critical alerts)."""
        now = self.now()
        text = check_text(comment, "comment")
        check_until(until, now, silences.SILENCE_MAX)
        given = {k: v for k, v in matchers.items() if v is not None}
        check_matchers(self.registry, self._pack, given)
        return self._incidents.write(lambda conn: (silences.create(
            conn, given, until=until, comment=text, actor=actor, now=now), []))

    def end_silence(self, silence_id: int, *, actor: str) -> Silence:
        """End a silence now."""
        now = self.now()
        return self._incidents.write(
            lambda conn: (silences.end(conn, silence_id, actor=actor, at=now), []))

    def silences(self, *, active: bool = False, limit: int = 500,
                 offset: int = 0) -> list[Silence]:
        """Silences newest first."""
        with self._engine.connect() as conn:
            return silences.listed(conn, active_at=self.now() if active else None,
                                   limit=limit, offset=offset)

    def silence_of(self, silence_id: int) -> Silence:
        """One silence."""
        with self._engine.connect() as conn:
            return silences.get(conn, silence_id)

    # --- maintenance windows --------------------------------------------------------------
    def plan_window(self, matchers: Mapping[str, str | None], *, start: datetime, end: datetime,
                    note: str, actor: str) -> Window:
        """Plan a maintenance window on a zone or a device of a site."""
        now = self.now()
        site = matchers.get("site")
        if not site:
            raise InvalidField("matchers.site", "a window names its site")
        check_matchers(self.registry, self._pack,
                       {k: v for k, v in matchers.items() if v is not None})
        text = check_text(note, "note")
        return self._incidents.write(lambda conn: (windows.create(
            conn, site=site, zone=matchers.get("zone"), device_id=matchers.get("device_id"),
            start=start, end=end, note=text, actor=actor, now=now), []))

    def end_window(self, window_id: int, *, actor: str) -> Window:
        """End a maintenance window now."""
        now = self.now()
        return self._incidents.write(
            lambda conn: (windows.end(conn, window_id, actor=actor, now=now), []))

    def windows(self, *, active: bool = False) -> list[Window]:
        """Maintenance windows newest first (only those not over with `active`)."""
        with self._engine.connect() as conn:
            return windows.listed(conn, active_at=self.now() if active else None)

    def window(self, window_id: int) -> Window:
        """One maintenance window."""
        with self._engine.connect() as conn:
            return windows.get(conn, window_id)

    # --- time and status ------------------------------------------------------------------
    def expire_due(self, now: float | None = None, sites: Collection[str] | None = None) -> int:
        """End whatever reached its `until` (the scheduler's job) at `sites`, the sites this
        instance serves (SITEWATCH_SITES, SPEC §11; None: all); timeline entries written."""
        at = datetime.fromtimestamp(self._clock() if now is None else now, UTC)

        def work(conn: sa.Connection) -> tuple[int, Entries]:
            entries = disablements.expire(conn, at, self._present_after_disable, self._replay,
                                          sites)
            entries += walktests.expire(conn, at, self._present_after_test, self._replay, sites)
            entries += shelving.expire(conn, at, self._next_escalation, sites)
            silences.expire(conn, at, sites)
            windows.expire(conn, at, sites)
            return len(entries), entries

        with self._engine.connect() as conn:  # a read first: no write lock each second for naught
            if not status_due(conn, at, sites):
                return 0
        self.gate.invalidate()
        done = self._incidents.write(work)
        self.gate.invalidate()
        return done

    def summary(self) -> dict[str, Any]:
        """What status shows: disabled points, tests, shelved alerts, silences, groups."""
        with self._engine.connect() as conn:
            return status_summary(conn, self.now())

    # --- plumbing -------------------------------------------------------------------------
    def _replay(self, conn: sa.Connection, hit: seen.SeenSignal, at: datetime,
                why: str) -> Entries:
        return self._incidents.apply_in(conn, seen.replay(hit, at.timestamp(), why), at)

    def _next_escalation(self, alert: Incident, at: datetime) -> datetime | None:
        after = self._incidents.sla.escalate_after(alert.severity or "")
        return None if after is None or alert.test else at + after
