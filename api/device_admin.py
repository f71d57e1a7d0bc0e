"""Devices changed at runtime: the database first, then the registry, liveness and evaluator."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from devices.liveness import DeviceLiveness
from devices.registry import Device, Registry
from rules.db.device_registry import DeviceMissing, DeviceTable, ImportResult
from rules.engine.evaluator import Evaluator

log = logging.getLogger("sitewatch.devices")


class DeviceInvalid(ValueError):
    """A device change the registry refuses; `field` names what is wrong."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(f"{field}: {msg}")
        self.field = field
        self.msg = msg


class DeviceAdmin:
    """Creates, updates and retires devices while the service runs.

    The table is written first (the change survives a restart, and its record names the
    actor), then the shared Registry is swapped copy-on-write, so decode and ingest see the
    device registered, liveness lists it at once and the evaluator watches it with its kind's
    rules (stale rules count from now). One lock: changes apply in the order they committed.
    """

    def __init__(
        self, table: DeviceTable, registry: Registry, clock: Callable[[], float] = time.time
    ) -> None:
        self.table = table
        self.registry = registry
        self._clock = clock
        self._liveness: DeviceLiveness | None = None
        self._evaluator: Evaluator | None = None
        self._listeners: list[Callable[[Registry], None]] = []
        self._lock = threading.Lock()

    def load(self, from_file: Registry | None, actor: str = "SITEWATCH_DEVICES") -> ImportResult:
        """Import a registry file (creates and updates, never deletes), then make the shared
        registry exactly the database's devices in service."""
        result = ImportResult([], [], [])
        if from_file is not None:
            result = self.table.import_registry(from_file, actor)
            if result.created or result.updated:
                log.info("registry import: %d created, %d updated", len(result.created),
                         len(result.updated))
            if result.kept_retired:
                log.warning("registry file lists retired devices, left retired: %s",
                            ", ".join(result.kept_retired))
        loaded = self.table.load()
        self.registry.replace(loaded.devices, loaded.zones)
        return result

    def attach(self, liveness: DeviceLiveness, evaluator: Evaluator | None) -> None:
        """The running parts that must learn of every change."""
        self._liveness, self._evaluator = liveness, evaluator

    def subscribe(self, listener: Callable[[Registry], None]) -> None:
        """Called with the registry after every change (e.g. maintenance schedules' targets)."""
        self._listeners.append(listener)

    def create(self, fields: dict[str, Any], actor: str) -> Device:
        """Put a new device in service; DeviceInvalid, or DeviceExists from the table."""
        with self._lock:
            device = self._valid(fields)
            self.table.create(device, actor)
            self._apply(device)
            return device

    def update(self, device_id: str, fields: dict[str, Any], actor: str) -> Device:
        """Change a device in service; DeviceInvalid, or DeviceMissing."""
        with self._lock:
            current = self.registry.devices.get(device_id)
            if current is None:
                raise DeviceMissing(device_id)
            device = self._valid({**current.model_dump(), **fields, "id": device_id})
            self.table.update(device, actor)
            self._apply(device)
            return device

    def retire(self, device_id: str, actor: str) -> Device:
        """Take a device out of service; its history stays in the stores. DeviceMissing."""
        with self._lock:
            device = self.table.retire(device_id, actor)
            devices = dict(self.registry.devices)
            devices.pop(device_id, None)
            self.registry.replace(devices)
            if self._liveness is not None:
                self._liveness.forget(device_id)
            if self._evaluator is not None:
                self._evaluator.unwatch(device_id)
            self._changed()
            return device

    def _valid(self, fields: dict[str, Any]) -> Device:
        try:
            device = Device.model_validate(fields)
        except ValidationError as e:
            first = e.errors()[0]
            raise DeviceInvalid(".".join(str(p) for p in first["loc"]) or "body",
                                first["msg"]) from None
        zone_error = self.registry.zone_error(device.zone)
        if zone_error is not None:
            raise DeviceInvalid("zone", zone_error)
        return device

    def _apply(self, device: Device) -> None:
        self.registry.replace({**self.registry.devices, device.id: device})
        now = self._clock()
        if self._liveness is not None:
            self._liveness.expect(device.site, device.id, device.kind, device.zone, now)
        if self._evaluator is not None:
            seen = self._liveness.last_seen().get(device.id, now) if self._liveness else now
            self._evaluator.unwatch(device.id)  # its interval may have changed: stale limits anew
            self._evaluator.watch(device.site, device.id, device.kind, device.zone, seen)
        self._changed()

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener(self.registry)
            except Exception:  # the change is made; a listener's failure must not undo it
                log.exception("a registry listener failed")
