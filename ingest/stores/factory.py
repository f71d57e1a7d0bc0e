"""Which TelemetryStore the settings name: InfluxDB v2, v1, or the embedded SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from ingest.stores.base import TelemetryStore


class StoreSettings(Protocol):
    """The settings a store is built from (the service's Settings has them all)."""

    influx_url: str | None
    influx_api: Literal["v2", "v1", "v3"]
    influx_db: str
    influx_username: str | None
    influx_password: str | None
    influx_token: str | None
    influx_org: str | None
    influx_bucket: str
    data_dir: Path
    retention_days: float  # 0: keep forever


def open_store(settings: StoreSettings) -> TelemetryStore:
    """The configured telemetry store: InfluxDB v2, v1, v3, or the embedded SQLite store."""
    if not settings.influx_url:
        from ingest.stores.embedded import EmbeddedStore

        return EmbeddedStore(settings.data_dir / "telemetry.sqlite3")
    if settings.influx_api == "v1":
        from ingest.stores.influx_v1 import InfluxV1Store

        return InfluxV1Store(
            settings.influx_url,
            settings.influx_db,
            username=settings.influx_username,
            password=settings.influx_password,
            retention_s=settings.retention_days * 86_400 or None,
        )
    if settings.influx_api == "v3":
        from ingest.stores.influx_v3 import InfluxV3Store

        return InfluxV3Store(settings.influx_url, settings.influx_db, token=settings.influx_token)
    from ingest.stores.influx_v2 import InfluxV2Store

    return InfluxV2Store(
        settings.influx_url,
        token=settings.influx_token or "",
        org=settings.influx_org or "",
        bucket=settings.influx_bucket,
    )
