"""Operations on groups of alerts and on declared emergencies (SPEC §8.2, §8.3).

A mixin of rules/operations/service.py's Operations, kept apart so that module holds the
timed operations (disablements, walk tests, shelving, silences, windows) and their expiry,
and this one the actions on incidents that are not timed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from devices.registry import Registry
from rules.incidents.record import Incident
from rules.incidents.service import IncidentService
from rules.operations import emergencies, grouping
from rules.operations.errors import UnknownTarget
from rules.operations.plans import Language, Plan
from rules.operations.targets import check_text, resolve_target


class GroupsAndEmergencies(ABC):
    """Acknowledge a group, list its members; declare, end and list emergencies."""

    _engine: sa.Engine
    _incidents: IncidentService
    registry: Registry
    plans: dict[str, Plan]

    @abstractmethod
    def now(self) -> datetime:
        """The Operations': the clock as an aware UTC datetime."""

    def acknowledge_group(self, incident_id: int, *, actor: str, note: str = "") -> Incident:
        """Acknowledge every active alert of the incident's group; the head."""
        now = self.now()
        head_id = self._incidents.write(lambda conn: grouping.acknowledge(
            conn, incident_id, actor=actor, note=note, at=now))
        return self._incidents.get(head_id)

    def members(self, incident: Incident) -> list[Incident]:
        """The members of a group head (none for a member or an alert alone)."""
        if incident.group_id != incident.id:
            return []
        with self._engine.connect() as conn:
            return grouping.members(conn, incident.id)

    def declare(self, plan_id: str, target: Mapping[str, Any], *, note: str, actor: str,
                language: Language = "en") -> Incident:
        """Declare an emergency: a critical alert with the plan, to every route."""
        plan = self.plans.get(plan_id)
        if plan is None:
            raise UnknownTarget(f"plan: no plan {plan_id!r}; known: {', '.join(self.plans)}")
        tgt = resolve_target(self.registry, target)
        text = check_text(note, "note", required=False)
        now = self.now()
        alert_id = self._incidents.write(lambda conn: emergencies.declare(
            conn, plan_id, plan, tgt, note=text, actor=actor, now=now, sla=self._incidents.sla,
            language=language))
        return self._incidents.get(alert_id)

    def end_emergency(self, emergency_id: int, *, actor: str, note: str = "",
                      code: str | None = None) -> Incident:
        """Resolve a declared emergency (a drill's code is `test`, others `real` by default)."""
        plan = self.emergency(emergency_id).plan
        code = code or ("test" if plan == "evacuation_drill" else "real")
        return self._incidents.transition(emergency_id, "resolve", actor=actor, note=note,
                                          code=code)

    def emergencies(self, *, open_only: bool = False) -> list[Incident]:
        """Declared emergencies newest first."""
        with self._engine.connect() as conn:
            return emergencies.listed(conn, open_only=open_only)

    def emergency(self, emergency_id: int) -> Incident:
        """One declared emergency."""
        with self._engine.connect() as conn:
            return emergencies.get(conn, emergency_id)
