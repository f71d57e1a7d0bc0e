"""Helpers for end-to-end tests: devices publishing over MQTT, short-hold rule packs, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from api.service import Service
from rules.incidents.record import Incident
from tests.ingest.helpers import Publisher

T = TypeVar("T")


class Site:
    """Devices of one site publishing over a real broker at QoS 1, as SPEC §2 says."""

    def __init__(self, port: int, prefix: str, site: str) -> None:
        self.prefix, self.site = prefix, site
        self.publisher = Publisher(port, f"{prefix}-devices")
        self._seq: dict[str, int] = {}

    def _body(self, device_id: str, **fields: Any) -> str:
        self._seq[device_id] = self._seq.get(device_id, 0) + 1
        return json.dumps({"ts": time.time(), "seq": self._seq[device_id], **fields})

    def topic(self, device_id: str, channel: str) -> str:
        """The device's topic for `channel` (telemetry, event, status)."""
        return f"{self.prefix}/{self.site}/{device_id}/{channel}"

    def event(self, device_id: str, name: str, **data: Any) -> None:
        """Publish one event."""
        body = self._body(device_id, event=name, data=data)
        self.publisher.publish(self.topic(device_id, "event"), body)

    def telemetry(self, device_id: str, **metrics: Any) -> None:
        """Publish one telemetry message."""
        body = self._body(device_id, metrics=metrics)
        self.publisher.publish(self.topic(device_id, "telemetry"), body)

    def close(self) -> None:
        """Wait until the broker has every message, then disconnect."""
        self.publisher.close(timeout=10)


def short_hold_pack(path: Path, **holds: str) -> Path:
    """The built-in rule pack written to `path` with the given rules' holds shortened.

    Everything else (grades, departments, runbooks) stays what the pack says.
    """
    pack = yaml.safe_load(resources.files("rules.engine").joinpath("pack.yaml").read_text("utf-8"))
    found = set()
    for rule in pack["rules"]:
        if rule["id"] in holds:
            assert "hold" in rule, f"rule {rule['id']} has no hold to shorten"
            rule["hold"] = holds[rule["id"]]
            found.add(rule["id"])
    assert found == set(holds), f"no such rules in the pack: {set(holds) - found}"
    path.write_text(yaml.safe_dump(pack, sort_keys=False), "utf-8")
    return path


def poll(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Call `probe` every 20 ms until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s still no {what}")
        time.sleep(0.02)


def incidents_of(service: Service, rule_id: str, device_id: str) -> list[Incident]:
    """Every incident (open or not) a rule raised for a device, oldest first."""
    items, _ = service.incidents.list(device_id=device_id, limit=500)
    return sorted((i for i in items if i.rule_id == rule_id), key=lambda i: i.id)


def one_incident(service: Service, rule_id: str, device_id: str) -> Incident | None:
    """The single incident of (rule, device), or None while there is none (two: a failure)."""
    found = incidents_of(service, rule_id, device_id)
    assert len(found) <= 1, f"duplicate incidents for {rule_id}/{device_id}: {found}"
    return found[0] if found else None


def evaluated(service: Service, n: int, timeout: float = 5.0) -> None:
    """Wait until the rules worker has evaluated `n` readings since this Service started."""
    poll(lambda: service.counters.snapshot()["handled"].get("rules", 0) >= n or None,
         timeout, f"{n} readings evaluated")
