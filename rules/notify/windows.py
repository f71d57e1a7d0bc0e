"""Maintenance windows: while work is under way on a device or zone, its ticket
notifications are muted. Alerts are never muted: fire and intrusion must always be heard."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from rules.db.database import WRITE
from rules.db.schema import maintenance_windows as windows_table
from rules.incidents.record import Incident


@dataclass(frozen=True)
class MaintenanceWindow:
    """Planned work on one device or one zone during [start_at, end_at)."""

    id: int
    site: str | None
    zone: str | None
    device_id: str | None
    start_at: float  # Unix seconds, inclusive
    end_at: float  # Unix seconds, exclusive
    reason: str
    created_by: str

    def covers(self, incident: Incident, at: float) -> bool:
        """Whether this window is open at `at` and is about the incident's device or zone."""
        if not self.start_at <= at < self.end_at:
            return False
        if self.site is not None and incident.site != self.site:
            return False
        if self.device_id is not None:
            return incident.device_id == self.device_id
        return self.zone is not None and incident.zone == self.zone


class MaintenanceWindows:
    """The maintenance windows, kept in the relational database so they outlive a restart."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        self._clock = clock

    def add(
        self,
        *,
        start_at: float,
        end_at: float,
        device_id: str | None = None,
        zone: str | None = None,
        site: str | None = None,
        reason: str = "",
        created_by: str = "system",
    ) -> MaintenanceWindow:
        """Plan a window on a device or a zone (exactly one of them)."""
        if (device_id is None) == (zone is None):
            raise ValueError("a maintenance window covers either one device or one zone")
        if end_at <= start_at:
            raise ValueError("a maintenance window must end after it starts")
        values = {"site": site, "zone": zone, "device_id": device_id, "start_at": start_at,
                  "end_at": end_at, "reason": reason, "created_by": created_by}
        with self._writer.begin() as conn:
            new_id = conn.execute(windows_table.insert().values(**values)).inserted_primary_key
        assert new_id is not None
        return MaintenanceWindow(id=int(new_id[0]), **values)  # type: ignore[arg-type]

    def remove(self, window_id: int) -> bool:
        """Delete a window (work finished early); False when there was none."""
        with self._writer.begin() as conn:
            gone = conn.execute(windows_table.delete().where(windows_table.c.id == window_id))
        return bool(gone.rowcount)

    def list(self, *, active_at: float | None = None) -> list[MaintenanceWindow]:
        """Every window, or those open at `active_at`, by start time."""
        columns = [windows_table.c[f] for f in MaintenanceWindow.__dataclass_fields__]
        query = sa.select(*columns).order_by(windows_table.c.start_at, windows_table.c.id)
        if active_at is not None:
            query = query.where(
                windows_table.c.start_at <= active_at, windows_table.c.end_at > active_at
            )
        with self._engine.connect() as conn:
            return [MaintenanceWindow(**r._asdict()) for r in conn.execute(query)]

    def mutes(self, incident: Incident, at: float | None = None) -> bool:
        """Whether a notification about this incident is muted at `at` (tickets only)."""
        if incident.kind != "ticket":
            return False  # alerts (fire, intrusion, life safety) are never muted
        at = self._clock() if at is None else at
        return any(w.covers(incident, at) for w in self.list(active_at=at))
