"""Which devices are online, stale or offline, and what each last reported."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from devices.kinds import KINDS
from devices.reading import MetricValue, Reading
from devices.registry import Registry
from devices.snapshot import DeviceSnapshot

# unknown: never heard (in this run, nor before a restart) and not yet silent long enough to
# be stale; a device never heard is not "online".
LiveState = Literal["online", "stale", "offline", "unknown"]
SNAPSHOT_CHUNK = 100  # devices copied per hold of the lock by snapshot()
DEFAULT_STALE_S = 180.0  # an unregistered device of unknown kind: three one-minute intervals


@dataclass(slots=True)
class _Seen:
    site: str
    kind: str | None
    zone: str | None
    online_since: float | None = None  # start of the current unbroken run of messages
    last_seen: float | None = None  # Unix seconds of the last message of any channel
    offline_since: float | None = None  # set by a retained/last-will `offline` status
    latest: dict[str, tuple[float, MetricValue]] = field(default_factory=dict)
    change: int = 0  # change number of the last observe(); 0 = nothing new since start/restore
    expected_at: float | None = None  # put in service at runtime: grace counts from here


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device's liveness at an instant: state and since when, last seen, latest metrics."""

    device_id: str
    site: str
    kind: str | None
    zone: str | None
    registered: bool
    state: LiveState
    since: float  # Unix seconds the current state began
    last_seen: float | None
    latest: dict[str, tuple[float, MetricValue]]  # metric -> (ts, value)


def _plain(key: str, site: str) -> str:
    """An unregistered device's id from its key (`id@site`)."""
    return key[: -len(site) - 1] if key.endswith(f"@{site}") else key


class DeviceLiveness:
    """Tracks every device's last message; `stale` after three silent intervals.

    Keyed by (site, device): a registered id is unique in the registry; an unregistered one
    is kept as `id@site`, so one id heard at two sites is two devices (last_seen() keys too).

    A device never heard from (in this run, nor before a restart when its saved state was
    given to restore()) is given three intervals of grace from `started_at`, so a restart
    does not mark the whole site stale at once.
    """

    def __init__(self, registry: Registry, started_at: float) -> None:
        self._registry = registry
        self._started_at = started_at
        # Device id -> stale_after(): fixed per device (the registry is fixed, and so is the
        # kind a device was first seen with), remembered for counts() and observe().
        self._stale_after: dict[str, float] = {}
        self._lock = threading.Lock()
        self._changes = 0  # observe() calls so far: the change number snapshot() filters on
        self._seen: dict[str, _Seen] = {
            d.id: _Seen(d.site, d.kind, d.zone) for d in registry.devices.values()
        }

    def observe(self, reading: Reading) -> None:
        """Record a message. Telemetry and events are signs of life; a status only sets or
        clears `offline`: a retained `online`, redelivered at every resubscribe, proves nothing.
        """
        key = reading.device_id
        if reading.kind is None:  # unregistered: (site, device)
            key = f"{key}@{reading.site}"
        with self._lock:
            s = self._seen.get(key)
            if s is None:
                s = self._seen[key] = _Seen(reading.site, reading.kind, reading.zone)
            s.change = self._changes = self._changes + 1  # one store: the dirty mark for saving
            if reading.channel == "status":
                s.offline_since = reading.received_at if reading.status == "offline" else None
                return
            limit = self._stale_after.get(key)
            if limit is None:  # remembered as counts() does; expect() and forget() drop it
                limit = self._stale_after[key] = self.stale_after(key, s.kind)
            gap = reading.received_at - (s.last_seen or float("-inf"))
            if s.online_since is None or s.offline_since is not None or gap >= limit:
                s.online_since = reading.received_at
            s.last_seen = max(s.last_seen or 0.0, reading.received_at)
            s.offline_since = None
            for name, value in reading.metrics.items():
                prev = s.latest.get(name)
                if prev is None or prev[0] <= reading.ts:
                    s.latest[name] = (reading.ts, value)

    def expect(self, site: str, device_id: str, kind: str, zone: str, at: float) -> None:
        """A device put in service (or changed) at runtime: known at once, with its new facts;
        one never heard gets three intervals of grace from `at` (Unix s), as at start."""
        with self._lock:
            self._stale_after.pop(device_id, None)  # its interval or kind may have changed
            s = self._seen.get(device_id)
            if s is None:
                s = self._seen[device_id] = _Seen(site, kind, zone, expected_at=at)
            s.site, s.kind, s.zone = site, kind, zone
            s.change = self._changes = self._changes + 1

    def forget(self, device_id: str) -> None:
        """A device retired: no longer listed (it returns as unregistered if heard again)."""
        with self._lock:
            self._stale_after.pop(device_id, None)
            self._seen.pop(device_id, None)

    def stale_after(self, device_id: str, kind: str | None) -> float:
        """Seconds of silence after which this device is stale."""
        d = self._registry.devices.get(device_id)
        if d is not None:
            return d.stale_after_s
        spec = KINDS.get(kind or "")
        return spec.stale_after_s if spec else DEFAULT_STALE_S

    def state(self, device_id: str, now: float) -> DeviceState | None:
        """The device's state now, or None if it is neither registered nor ever heard."""
        with self._lock:
            key, s = device_id, self._seen.get(device_id)
            if s is None:  # an unregistered id: the one of its sites heard last
                heard = [(k, v) for k, v in self._seen.items()
                         if k not in self._registry.devices and _plain(k, v.site) == device_id]
                if not heard:
                    return None
                key, s = max(heard, key=lambda kv: kv[1].last_seen or 0.0)
            return self._state(key, s, now)

    def states(self, now: float) -> list[DeviceState]:
        """Every known device's state now, registered ones and unregistered ones heard."""
        with self._lock:
            return [self._state(i, s, now) for i, s in self._seen.items()]

    def counts(self, now: float) -> dict[tuple[LiveState, bool], int]:
        """How many known devices are in each (state, registered) pair now.

        What /status needs, without building a DeviceState (and copying its metrics) per
        device: at 10,000 devices that copy took ~40 ms while holding the lock observe() needs.
        """
        out: dict[tuple[LiveState, bool], int] = {}
        registered = self._registry.devices
        limits = self._stale_after
        started = self._started_at
        with self._lock:
            # _state_of's decision, inlined with the remembered limit: at 10,000 devices the
            # call and registry lookup per device were most of a /status request's CPU.
            for device_id, s in self._seen.items():
                limit = limits.get(device_id)
                if limit is None:
                    limit = limits[device_id] = self.stale_after(device_id, s.kind)
                if s.offline_since is not None:
                    state: LiveState = "offline"
                elif now - (s.last_seen or s.expected_at or started) >= limit:
                    state = "stale"
                elif s.last_seen is None:
                    state = "unknown"
                else:
                    state = "online"
                key = (state, device_id in registered)
                out[key] = out.get(key, 0) + 1
        return out

    def last_seen(self) -> dict[str, float]:
        """Device id -> Unix seconds of its last sign of life (start time if never heard)."""
        with self._lock:
            return {
                i: s.last_seen or s.expected_at or self._started_at for i, s in self._seen.items()
            }

    def snapshot(self, changed_since: int | None = None) -> list[DeviceSnapshot]:
        """Devices changed after change number `changed_since` (None: every known device).

        Pass the largest `change` of the last snapshot that was saved: what changed while it
        was being saved, or in a save that failed, comes back in the next one.
        """
        registered = self._registry.devices
        with self._lock:
            ids = list(self._seen)
        out: list[DeviceSnapshot] = []
        # A few devices per hold of the lock: observe() runs on the alert path and must not
        # wait while a whole site is copied.
        for start in range(0, len(ids), SNAPSHOT_CHUNK):
            with self._lock:
                for i in ids[start : start + SNAPSHOT_CHUNK]:
                    s = self._seen[i]
                    if changed_since is None or s.change > changed_since:
                        out.append(DeviceSnapshot(
                            _plain(i, s.site) if i not in registered else i, s.site, s.zone,
                            s.kind, i in registered, s.last_seen,
                            s.online_since, s.offline_since, dict(s.latest), s.change,
                        ))
        return out

    def restore(self, snapshots: Iterable[DeviceSnapshot], overwrite: bool = False) -> None:
        """Take back states saved before a restart; a device observed since keeps its own
        unless `overwrite` (another instance serves its site now and saved newer ones)."""
        with self._lock:
            for snap in snapshots:
                key = snap.device_id
                if key not in self._registry.devices:
                    key = f"{key}@{snap.site}"  # unregistered: keyed by (site, device)
                s = self._seen.get(key)
                if s is None:
                    if snap.last_seen is None and snap.offline_since is None:
                        continue  # no longer registered and never heard: nothing to show
                    s = self._seen[key] = _Seen(snap.site, snap.kind, snap.zone)
                if s.change and not overwrite:
                    continue  # heard since start: that is newer than anything saved
                s.last_seen, s.online_since = snap.last_seen, snap.online_since
                s.offline_since = snap.offline_since
                s.latest = dict(snap.latest)

    def _state_of(self, device_id: str, s: _Seen, now: float) -> tuple[LiveState, float]:
        if s.offline_since is not None:
            return "offline", s.offline_since
        seen = s.last_seen or s.expected_at or self._started_at
        limit = self.stale_after(device_id, s.kind)
        if now - seen >= limit:
            return "stale", seen + limit
        if s.last_seen is None:
            return "unknown", seen
        return "online", s.online_since if s.online_since is not None else seen

    def _state(self, device_id: str, s: _Seen, now: float) -> DeviceState:
        registered = device_id in self._registry.devices
        state, since = self._state_of(device_id, s, now)
        return DeviceState(
            device_id if registered else _plain(device_id, s.site), s.site, s.kind, s.zone,
            registered, state, since, s.last_seen,
            dict(s.latest),
        )
