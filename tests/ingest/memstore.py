"""An in-memory TelemetryStore for ingest tests, with faults that can be switched on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from devices.reading import Reading
from ingest.stores.base import BadData, Sample, StoredEvent, StoreUnavailable


class MemoryStore:
    """Keeps readings keyed by (device, channel, ts), like a real store: rewrites overwrite."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str, str, float], Reading] = {}
        self.writes = 0  # successful write calls
        self.fail_next = 0  # the next N writes raise StoreUnavailable
        self.refuse: Callable[[Reading], bool] = lambda r: False  # BadData when any matches
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)

    def write(self, batch: Sequence[Reading]) -> None:
        """Store the batch, or raise the injected fault."""
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise StoreUnavailable("injected outage")
            if any(self.refuse(r) for r in batch):
                raise BadData("injected refusal")
            for r in batch:
                self.points[(r.site, r.device_id, r.channel, r.ts)] = r
            self.writes += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> int:
        """Block until at least `count` points are stored or `timeout` passes; the count."""
        with self._lock:
            self.changed.wait_for(lambda: len(self.points) >= count, timeout)
            return len(self.points)

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every_s: float | None = None,
        limit: int = 10_000,
    ) -> list[Sample]:
        """Raw samples of one metric in [start, end), oldest first (no averaging here)."""
        with self._lock:
            found = sorted(
                (r.ts, r.metrics[metric])
                for (_, dev, _, ts), r in self.points.items()
                if dev == device_id and metric in r.metrics and start <= ts < end
            )
        return [Sample(ts, v) for ts, v in found[:limit]]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The newest value of each metric of the device."""
        out: dict[str, Sample] = {}
        with self._lock:
            for r in sorted(self.points.values(), key=lambda r: r.ts):
                if r.device_id == device_id:
                    out.update({m: Sample(r.ts, v) for m, v in r.metrics.items()})
        return out

    def events(self, device_id: str, start: float, end: float, event: str | None = None,
               limit: int = 500, offset: int = 0) -> list[StoredEvent]:
        """The device's events in [start, end), oldest first, one page."""
        with self._lock:
            found = sorted(
                (r for r in self.points.values() if r.device_id == device_id
                 and r.channel == "event" and start <= r.ts < end
                 and (event is None or r.event == event)),
                key=lambda r: (r.ts, r.event or ""))
        return [StoredEvent(r.ts, r.event or "", dict(r.data), r.seq)
                for r in found[offset:offset + limit]]

    def readings(self, start: float, end: float, site: str | None = None) -> Iterator[Reading]:
        """Every stored reading in [start, end) (of one site if given), in time order."""
        with self._lock:
            found = sorted((r for r in self.points.values() if start <= r.ts < end
                            and (site is None or r.site == site)), key=lambda r: r.ts)
        yield from found

    def ping(self) -> bool:
        """Always reachable unless an outage is injected."""
        return self.fail_next == 0

    def close(self) -> None:
        """Nothing to release."""
