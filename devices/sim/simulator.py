"""A simulated site publishing real MQTT: telemetry, events, status with last wills, faults.

Connections: up to PER_DEVICE_CLIENT_MAX devices each get their own paho client, with a last
will `offline` (retained, QoS 1) on their status topic, like real devices. Larger fleets share
a few clients (one per SHARED_DEVICES_PER_CLIENT devices): a client can carry only one will,
so there a killed simulator leaves statuses `online`; a graceful stop still publishes
`offline` for every device.

Rate: `rate` is telemetry messages per second for the whole site, spread evenly over the
devices; None lets each device report at its own interval (registry or kind). Events and
door-state changes come on top. `speed` runs site time (daily swing, office hours, filter
loading, battery) faster than the wall clock; message timestamps are always wall-clock.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devices.broker_url import BrokerAddress, parse_broker_url
from devices.registry import Device, Registry
from devices.sim.broker_link import BrokerLink, SimulatorError
from devices.sim.scenario import (
    Fault,
    Step,
    parse_fault,
    plan,
)
from devices.sim.signals import DeviceModel
from devices.tls import TlsFiles
from devices.topics import device_topic

log = logging.getLogger(__name__)

PER_DEVICE_CLIENT_MAX = 200  # above this, devices share clients (no per-device wills)
SHARED_DEVICES_PER_CLIENT = 500
CONNECT_TIMEOUT_S = 15.0
OFFLINE_FLUSH_S = 5.0  # how long a graceful stop waits for `offline` to reach the broker
DOOR_CANDIDATE_RATE = 0.1  # door traffic candidates per wall second (thinned by occupancy)
DENIED_SHARE = 0.03  # share of door attempts refused (wrong card)


@dataclass
class SimulatorStats:
    """What the simulator did: messages published and refused (client queue full, no link)."""

    telemetry: int = 0
    events: int = 0
    refused: int = 0


def rfc3339(ts: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds and a `Z`."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class Simulator:
    """Publishes a registry's devices to an MQTT broker until `duration_s` or `stop()`."""

    def __init__(
        self,
        registry: Registry,
        broker_url: str,
        prefix: str = "sitewatch",
        rate: float | None = None,  # telemetry messages/s for the whole site; None: intervals
        duration_s: float | None = None,  # None: until stop()
        seed: int = 1,
        faults: Sequence[Fault | str] = (),  # Fault objects or `--fault` strings
        speed: float = 1.0,  # site seconds per wall second, for signal shapes only
        sim_start_ts: float | None = None,  # site time at start (Unix s); None: now
        per_device_clients: bool | None = None,  # None: when devices <= PER_DEVICE_CLIENT_MAX
        queue_max: int = 10_000,  # messages a client holds while the broker is slow or away
        connect_timeout_s: float = CONNECT_TIMEOUT_S,  # give up when the broker stays silent
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        tls: TlsFiles | None = None,  # mqtts://: private CA and client certificate
    ) -> None:
        self._tls = tls
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.devices: list[Device] = list(registry.devices.values())
        self.address: BrokerAddress = parse_broker_url(broker_url)
        self.prefix = prefix
        self.rate = rate
        self.duration_s = duration_s
        self.speed = speed
        parsed = [f if isinstance(f, Fault) else parse_fault(f) for f in faults]
        self.steps: list[Step] = plan(parsed, self.devices)
        self.stats = SimulatorStats()
        self._rng = random.Random(seed)
        self._sim_start = sim_start_ts
        self._per_device = (
            len(self.devices) <= PER_DEVICE_CLIENT_MAX
            if per_device_clients is None
            else per_device_clients
        )
        self._queue_max = queue_max
        self._connect_timeout_s = connect_timeout_s
        self._clock = clock
        self._wall = wall
        self._stop = threading.Event()
        self._t0_wall = 0.0  # wall time at which the schedule started (Unix s)
        self._models = {d.id: DeviceModel.create(d, seed) for d in self.devices}
        self._seq = {d.id: 0 for d in self.devices}
        self._links: list[BrokerLink] = []
        self._link_of: dict[str, BrokerLink] = {}

    def stop(self) -> None:
        """Ask `run()` to finish: thread- and signal-safe."""
        self._stop.set()

    def run(self) -> SimulatorStats:
        """Connect every device, publish until the duration ends or stop(), then go offline."""
        self._connect()
        try:
            self._loop()
        finally:
            self._disconnect()
        return self.stats

    # -- connections ---------------------------------------------------------------------

    def _status_topic(self, d: Device) -> str:
        return device_topic(d.site, d.id, "status", self.prefix)

    def _connect(self) -> None:
        if self._per_device:
            for d in self.devices:
                link = BrokerLink(
                    f"{self.prefix}-{d.site}-{d.id}", self.address, [self._status_topic(d)],
                    will=True, queue_max=self._queue_max, tls=self._tls,
                )
                self._links.append(link)
                self._link_of[d.id] = link
        else:
            n = max(1, -(-len(self.devices) // SHARED_DEVICES_PER_CLIENT))
            groups: list[list[Device]] = [self.devices[i::n] for i in range(n)]
            tag = f"{self._rng.getrandbits(32):08x}"
            for i, group in enumerate(groups):
                link = BrokerLink(
                    f"{self.prefix}-sim-{tag}-{i}", self.address,
                    [self._status_topic(d) for d in group], will=False, queue_max=self._queue_max,
                    tls=self._tls,
                )
                self._links.append(link)
                self._link_of.update({d.id: link for d in group})
        for link in self._links:
            link.start()
        deadline = time.monotonic() + self._connect_timeout_s
        try:
            for link in self._links:
                link.wait_connected(max(0.0, deadline - time.monotonic()))
        except SimulatorError:
            self._disconnect()
            raise
        log.info("simulator: %d devices connected over %d clients to %s:%d",
                 len(self.devices), len(self._links), self.address.host, self.address.port)

    def _disconnect(self) -> None:
        deadline = time.monotonic() + OFFLINE_FLUSH_S
        for link in self._links:
            link.go_offline()
        for link in self._links:
            link.hang_up(max(0.0, deadline - time.monotonic()))
        for link in self._links:  # after every hang_up, so their threads wind down together
            link.join()
        self._links.clear()

    # -- publishing ----------------------------------------------------------------------

    def _publish(self, d: Device, channel: str, body: dict[str, Any], qos: int) -> None:
        self._seq[d.id] += 1
        payload = json.dumps({**body, "seq": self._seq[d.id]}, separators=(",", ":"))
        topic = device_topic(d.site, d.id, channel, self.prefix)  # type: ignore[arg-type]
        if not self._link_of[d.id].publish(topic, payload, qos):
            self.stats.refused += 1

    def _telemetry(self, d: Device, elapsed: float) -> None:
        metrics = self._models[d.id].telemetry(elapsed, self._sim_ts(elapsed))
        self._publish(d, "telemetry", {"ts": rfc3339(self._wall()), "metrics": metrics}, qos=1)
        self.stats.telemetry += 1

    def _event(self, d: Device, name: str, data: dict[str, Any]) -> None:
        ts = round(self._wall(), 3)  # events carry Unix seconds, telemetry RFC 3339 (both valid)
        self._publish(d, "event", {"ts": ts, "event": name, "data": data}, qos=1)
        self.stats.events += 1

    def _sim_ts(self, elapsed: float) -> float:
        return (self._sim_start if self._sim_start is not None else self._t0_wall) + (
            self.speed * elapsed
        )

    # -- the schedule --------------------------------------------------------------------

    def _interval(self, d: Device) -> float:
        if self.rate is not None:
            return len(self.devices) / self.rate
        return d.interval_s or d.spec.interval_s

    def _loop(self) -> None:
        self._t0_wall = self._wall()
        t0 = self._clock()
        order = itertools.count()  # tie-breaker so the heap never compares payloads
        heap: list[tuple[float, int, str, Any]] = []

        def at(due: float, job: str, what: Any) -> None:
            heapq.heappush(heap, (due, next(order), job, what))

        by_id = {d.id: d for d in self.devices}
        for d in self.devices:
            at(self._rng.uniform(0.0, min(self._interval(d), 5.0)), "telemetry", d)
            if d.kind == "door":
                at(self._rng.expovariate(DOOR_CANDIDATE_RATE), "door", d)
        for step in self.steps:
            at(step.at_s, "step", step)
        while not self._stop.is_set():
            now = self._clock() - t0
            if self.duration_s is not None and now >= self.duration_s:
                return
            due = heap[0][0] if heap else float("inf")
            if due > now:
                limit = self.duration_s - now if self.duration_s is not None else 1.0
                self._stop.wait(max(0.0, min(due - now, limit, 1.0)))
                continue
            _, _, job, what = heapq.heappop(heap)
            if job == "step":
                d = by_id[what.device_id]
                self._run_step(what, d, now)
                continue
            model = self._models[what.id]
            if model.silent:
                continue  # a silent device stays connected but says nothing more
            if job == "telemetry":
                self._telemetry(what, now)
                at(now + self._interval(what) * self._rng.uniform(0.95, 1.05), "telemetry", what)
            elif job == "door":
                self._door_traffic(what, model, now, at)
                at(now + self._rng.expovariate(DOOR_CANDIDATE_RATE), "door", what)
            elif job == "close" and not model.door_pinned:
                model.door_open = False
                self._telemetry(what, now)

    def _run_step(self, step: Step, d: Device, now: float) -> None:
        model = self._models[d.id]
        log.info("simulator: fault step on %s at %.1fs", d.id, now)
        for name, data in step.action(model, now):
            self._event(d, name, data)
        if step.report and not model.silent:
            self._telemetry(d, now)

    def _door_traffic(
        self, d: Device, model: DeviceModel, now: float, at: Callable[[float, str, Any], None]
    ) -> None:
        rate = model.door_arrival_rate(self._sim_ts(now), self.speed)
        if model.door_pinned or model.door_open or self._rng.random() >= rate / DOOR_CANDIDATE_RATE:
            return
        card = f"C-{self._rng.randrange(1000, 9999)}"
        if self._rng.random() < DENIED_SHARE:
            self._event(d, "access_denied", {"reader": "R1", "card": card, "reason": "expired"})
            return
        self._event(d, "access_granted", {"reader": "R1", "card": card})
        model.door_open = True
        self._telemetry(d, now)
        at(now + self._rng.uniform(3.0, 7.0), "close", d)  # a person walks through in 3-7 s
