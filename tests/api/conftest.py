"""Fixtures for API tests: a Runtime of real parts in tmp_path, tokens per role, a client.

Every test that takes `rt` (or `client`, `tokens`) runs twice: on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.device_admin import DeviceAdmin
from api.runtime import Runtime
from api.settings import Settings
from api.tokens import ROLES, create_token
from devices.liveness import DeviceLiveness
from devices.registry import Device, Registry
from ingest.counters import IngestCounters
from ingest.deadletters import DeadLetters
from ingest.stores.base import TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from rules.db.device_registry import DeviceTable
from rules.engine.loader import parse_rules
from rules.engine.signals import Signal
from rules.incidents.service import IncidentService
from tests.databases import DATABASES, migrated_sqlite

RULES = """
- id: fire_alarm
  kind: event
  title: Fire alarm
  description: A smoke detector is in alarm
  select: {kinds: [smoke_detector]}
  event: alarm
  raises: {type: alert, severity: critical, runbook: Evacuate the floor; call the fire brigade}
- id: door_forced
  kind: event
  title: Door forced open
  description: A door opened without a valid badge
  select: {kinds: [door]}
  event: door_forced_open
  raises: {type: alert, severity: major, latching: true}
- id: filter_clogged
  kind: threshold
  title: Filter clogged
  description: Filter pressure drop too high
  select: {kinds: [air_handler]}
  metric: filter_dp_pa
  above: 250
  raises: {type: ticket, priority: P4}
"""

_ids = itertools.count(1)


def small_registry() -> Registry:
    """A smoke detector, a door, an air handler and a zone sensor reporting every second."""
    return Registry.from_devices(
        [
            Device(id="sd-1", kind="smoke_detector", site="hq", zone="hall-a", name="Hall A smoke"),
            Device(id="door-1", kind="door", site="hq", zone="reception", name="Front door"),
            Device(id="ahu-1", kind="air_handler", site="annex", zone="roof", name="AHU 1"),
            Device(id="zs-fast", kind="zone_sensor", site="hq", zone="lab", interval_s=1),
        ]
    )


class Health:
    """A health callable whose answers a test can change."""

    def __init__(self) -> None:
        self.checks: dict[str, Any] = {
            "broker": {"ok": True},
            "store": {"ok": True},
            "database": {"ok": True},
            "buffer": {"depth": 0},
        }

    def __call__(self) -> dict[str, Any]:
        return {k: dict(v) for k, v in self.checks.items()}


def build_runtime(
    tmp_path: Path, store: TelemetryStore | None = None, engine: sa.Engine | None = None
) -> Runtime:
    """A Runtime of real parts: database (a SQLite file unless given), embedded store (unless
    given), services."""
    if engine is None:
        engine = migrated_sqlite(tmp_path / 'sitewatch.db')
    pack = parse_rules(RULES, "test rules")
    registry = small_registry()
    liveness = DeviceLiveness(registry, started_at=time.time())
    devices = DeviceAdmin(DeviceTable(engine), registry)
    devices.load(registry)
    devices.attach(liveness, None)
    return Runtime(
        settings=Settings(data_dir=tmp_path),
        registry=registry,
        store=store if store is not None else EmbeddedStore(tmp_path / "telemetry.sqlite3"),
        incidents=IncidentService(engine, pack),
        liveness=liveness,
        counters=IngestCounters(),
        deadletters=DeadLetters(100),
        pack=pack,
        engine=engine,
        health=Health(),
        devices=devices,
    )


def raise_alert(rt: Runtime, rule_id: str = "fire_alarm", device_id: str | None = None,
                zone: str | None = None) -> int:
    """Open an alert through the incident service, as the evaluator would; its id.

    Each alert is in a zone of its own unless `zone` is given (alerts of one zone group).
    """
    device = device_id or f"sd-x{next(_ids)}"
    entries = rt.incidents.apply(
        Signal(rule_id, "fire", "hq", device, time.time(), zone=zone or f"zone-{device}",
               device_kind="smoke_detector", value="alarm", message="alarm event")
    )
    return entries[0].incident_id


def open_ticket(rt: Runtime, **kw: Any) -> int:
    """Open a ticket by hand through the incident service; its id."""
    fields: dict[str, Any] = dict(
        title="Leaking tap", description="Kitchen tap drips", department="maintenance",
        priority="P3", actor="test", site="hq",
    )
    fields.update(kw)
    return rt.incidents.open_ticket(**fields).id


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The test's empty, migrated database: a SQLite file, or PostgreSQL as in production."""
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_engine")  # shared by the module, emptied after
        return
    engine = migrated_sqlite(tmp_path / 'sitewatch.db')
    yield engine
    engine.dispose()


@pytest.fixture
def rt(tmp_path: Path, database: sa.Engine) -> Iterator[Runtime]:
    """A fresh Runtime for one test, on each database in turn."""
    runtime = build_runtime(tmp_path, engine=database)
    yield runtime
    runtime.store.close()


@pytest.fixture
def tokens(rt: Runtime) -> dict[str, str]:
    """One token per role, named after the role's user."""
    return {role: create_token(rt.engine, f"{role}-user", role) for role in ROLES}


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    """A TestClient on an app over `rt` (lifespan started)."""
    with TestClient(create_app(rt)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
