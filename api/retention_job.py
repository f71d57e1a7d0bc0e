"""The embedded store's retention as a scheduler Job (InfluxDB keeps its own retention)."""

from __future__ import annotations

from api.jobs import Job
from ingest.stores.base import TelemetryStore
from ingest.stores.embedded import EmbeddedStore
from ingest.stores.retention import RETENTION_EVERY_S, EmbeddedRetention


def retention_jobs(store: TelemetryStore, retention_days: float) -> list[Job]:
    """A retention Job when the store is the embedded one and a retention is set; else none."""
    if not isinstance(store, EmbeddedStore) or retention_days <= 0:
        return []
    retention = EmbeddedRetention(store, retention_days * 86_400)
    return [Job("telemetry-retention", retention.run, RETENTION_EVERY_S)]
