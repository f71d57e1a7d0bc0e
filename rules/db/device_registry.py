"""The device registry kept in the database: devices, zones, and a record of every change."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from devices.registry import Device, Registry
from rules.audit import log as audit
from rules.db.database import WRITE
from rules.db.schema import device_changes, device_states, registry_devices, registry_zones

FIELDS = ("kind", "site", "zone", "name", "interval_s", "floor", "x", "y")  # updatable


class DeviceExists(Exception):
    """A device with this id is in service already."""


class DeviceMissing(Exception):
    """No device in service has this id."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import of a registry file changed."""

    created: list[str]
    updated: list[str]
    kept_retired: list[str]  # in the file, but retired by an operator: left retired


def _device(row: Any) -> Device:
    return Device(id=row.id, kind=row.kind, site=row.site, zone=row.zone, name=row.name,
                  interval_s=row.interval_s, floor=row.floor, x=row.x, y=row.y)


def _diff(before: Device | None, after: Device | None) -> dict[str, list[Any]]:
    """field -> [before, after] for the fields that differ."""
    return {
        f: [getattr(before, f) if before else None, getattr(after, f) if after else None]
        for f in FIELDS
        if (getattr(before, f) if before else None) != (getattr(after, f) if after else None)
    }


class DeviceTable:
    """Reads and changes the registry tables; every change writes a device_changes row."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)  # SQLite: BEGIN IMMEDIATE
        self._clock = clock

    def load(self) -> Registry:
        """The devices in service and every zone, as a Registry."""
        with self._engine.connect() as c:
            rows = c.execute(
                sa.select(registry_devices).where(registry_devices.c.retired_at.is_(None))
                .order_by(registry_devices.c.id)
            ).all()
            zones = dict(c.execute(sa.select(registry_zones.c.zone, registry_zones.c.name)).all())
        return Registry.from_devices([_device(r) for r in rows], zones)

    def create(self, device: Device, actor: str) -> None:
        """Put a new device in service (a retired one with this id comes back); DeviceExists."""
        now = self._clock()
        with self._writer.begin() as c:
            row = c.execute(
                sa.select(registry_devices).where(registry_devices.c.id == device.id)
            ).first()
            if row is not None and row.retired_at is None:
                raise DeviceExists(device.id)
            values = self._values(device) | {"retired_at": None, "updated_at": now,
                                             "updated_by": actor}
            if row is None:
                c.execute(registry_devices.insert().values(
                    id=device.id, created_at=now, created_by=actor, **values))
            else:
                c.execute(registry_devices.update()
                          .where(registry_devices.c.id == device.id).values(**values))
            self._record(c, now, actor, device.id, "create", _diff(None, device), device.site)

    def update(self, device: Device, actor: str) -> Device:
        """Replace the fields of a device in service; the previous version. DeviceMissing."""
        now = self._clock()
        with self._writer.begin() as c:
            before = self._active(c, device.id)
            changes = _diff(before, device)
            if changes:
                c.execute(registry_devices.update().where(registry_devices.c.id == device.id)
                          .values(**self._values(device), updated_at=now, updated_by=actor))
                self._record(c, now, actor, device.id, "update", changes, device.site)
        return before

    def retire(self, device_id: str, actor: str) -> Device:
        """Take a device out of service, keeping its row; the device retired. DeviceMissing."""
        now = self._clock()
        with self._writer.begin() as c:
            before = self._active(c, device_id)
            c.execute(registry_devices.update().where(registry_devices.c.id == device_id)
                      .values(retired_at=now, updated_at=now, updated_by=actor))
            # Its saved liveness too: after a restart it must not come back as unregistered.
            c.execute(device_states.delete().where(device_states.c.device_id == device_id))
            self._record(c, now, actor, device_id, "retire", {"retired": [False, True]},
                         before.site)
        return before

    def import_registry(self, registry: Registry, actor: str) -> ImportResult:
        """Create and update from a registry file; never deletes. Idempotent: a second import
        of the same file changes nothing and records nothing."""
        now = self._clock()
        created: list[str] = []
        updated: list[str] = []
        retired: list[str] = []
        with self._writer.begin() as c:
            rows = {r.id: r for r in c.execute(sa.select(registry_devices)).all()}
            for d in registry.devices.values():
                row = rows.get(d.id)
                if row is None:
                    c.execute(registry_devices.insert().values(
                        id=d.id, created_at=now, created_by=actor, updated_at=now,
                        updated_by=actor, **self._values(d)))
                    self._record(c, now, actor, d.id, "create", _diff(None, d), d.site)
                    created.append(d.id)
                elif row.retired_at is not None:
                    retired.append(d.id)  # an operator's retirement wins over the file
                elif changes := _diff(_device(row), d):
                    c.execute(registry_devices.update().where(registry_devices.c.id == d.id)
                              .values(**self._values(d), updated_at=now, updated_by=actor))
                    self._record(c, now, actor, d.id, "update", changes, d.site)
                    updated.append(d.id)
            zones = dict(c.execute(sa.select(registry_zones.c.zone, registry_zones.c.name)).all())
            # A zone a device uses exists from then on, named by its id if the file gave none.
            named = {d.zone: d.zone for d in registry.devices.values()} | registry.zones
            for zone, name in named.items():
                if zone not in zones:
                    c.execute(registry_zones.insert().values(
                        zone=zone, name=name, updated_at=now, updated_by=actor))
                elif zones[zone] != name and zone in registry.zones:
                    c.execute(registry_zones.update().where(registry_zones.c.zone == zone)
                              .values(name=name, updated_at=now, updated_by=actor))
        return ImportResult(created, updated, retired)

    def changes(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """The change records, oldest first (of one device if given)."""
        q = sa.select(device_changes).order_by(device_changes.c.id)
        if device_id is not None:
            q = q.where(device_changes.c.device_id == device_id)
        with self._engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q).all()]

    @staticmethod
    def _values(d: Device) -> dict[str, Any]:
        return {f: getattr(d, f) for f in FIELDS}

    @staticmethod
    def _active(c: sa.Connection, device_id: str) -> Device:
        row = c.execute(sa.select(registry_devices).where(
            registry_devices.c.id == device_id, registry_devices.c.retired_at.is_(None))).first()
        if row is None:
            raise DeviceMissing(device_id)
        return _device(row)

    @staticmethod
    def _record(c: sa.Connection, at: float, actor: str, device_id: str, action: str,
                changes: dict[str, list[Any]], site: str) -> None:
        c.execute(device_changes.insert().values(
            at=at, actor=actor, device_id=device_id, action=action, changes=changes))
        audit.record(c, actor=actor, action=f"device.{action}", site=site,
                     at=datetime.fromtimestamp(at, UTC), target=f"device:{site}/{device_id}",
                     detail={"changes": changes})
