"""The running parts handed to the HTTP API, built once by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy

    from api.device_admin import DeviceAdmin
    from api.settings import Settings
    from devices.liveness import DeviceLiveness
    from devices.registry import Registry
    from ingest.counters import IngestCounters
    from ingest.deadletters import DeadLetters
    from ingest.stores.base import TelemetryStore
    from rules.engine.loader import RulePack
    from rules.engine.reload import ReloadResult
    from rules.incidents.service import IncidentService
    from rules.maintenance.config import Schedule
    from rules.operations.service import Operations
    from rules.people.links import LinkSigner
    from rules.people.oncall import OnCall


@dataclass
class Runtime:
    """Everything the API reads or acts on; built by `sitewatch serve`/`demo` or by a test."""

    settings: Settings
    registry: Registry
    store: TelemetryStore
    incidents: IncidentService
    liveness: DeviceLiveness
    counters: IngestCounters
    deadletters: DeadLetters
    pack: RulePack
    engine: sqlalchemy.Engine
    health: Callable[[], dict[str, Any]]  # each dependency's state, for /api/v1/health
    clock: Callable[[], float] = field(default=time.time)
    # The rules worker's figures for /metrics: `errors` (evaluations that raised), `backlog`.
    rules_stats: Callable[[], dict[str, Any]] = field(default=dict)
    # Liveness for /api/v1/health/live: thread name -> alive (default: nothing to check).
    live: Callable[[], dict[str, Any]] = field(default=dict)
    # The notifier's health() for /metrics: per route breaker, queue, failures, oldest pending.
    notify_stats: Callable[[], dict[str, Any]] = field(default=dict)
    # Disablements, tests, shelving, silences, windows, groups, emergencies (SPEC §8); the app
    # builds one over the parts above when a test's Runtime has none (api/operations.py).
    operations: Operations | None = None
    devices: DeviceAdmin | None = None  # device changes at runtime (SPEC §10); None: read-only
    reload: Callable[[str], ReloadResult] | None = None  # actor -> reload the rules file
    schedules: list[Schedule] = field(default_factory=list)  # preventive maintenance
    oncall: OnCall | None = None  # rotas and escalation chains (SITEWATCH_ONCALL)
    links: LinkSigner | None = None  # signs and checks acknowledge and rating links
