"""All settings in one place (SPEC §4), read from the environment once, at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Sitewatch configuration; every field maps to `SITEWATCH_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SITEWATCH_", extra="ignore")

    mqtt_url: str = "mqtt://127.0.0.1:1883"  # mqtt://user:pass@host:port or mqtts://...
    mqtt_client_id: str = "sitewatch-ingest"  # fixed, so the broker keeps our session
    mqtt_topic_prefix: str = "sitewatch"

    influx_url: str | None = None  # unset: the embedded SQLite telemetry store
    influx_api: Literal["v2", "v1", "v3"] = "v2"  # v3: InfluxDB 3 Core/Enterprise (SQL)
    influx_token: str | None = None
    influx_org: str | None = None
    influx_bucket: str = "sitewatch"
    influx_db: str = "sitewatch"
    influx_username: str | None = None
    influx_password: str | None = None

    data_dir: Path = Path("./var")  # durable buffer, embedded stores
    database_url: str = ""  # SQLAlchemy URL; empty: sqlite:///{data_dir}/sitewatch.db
    devices: Path | None = None  # registry YAML; None: built-in sample site
    rules: Path | None = None  # rules YAML; None: built-in rule pack
    schedules: Path | None = None  # preventive-maintenance YAML; None: built-in schedules
    notifications: Path | None = None  # notification routes YAML; None: none
    sla: Path | None = None  # SLA clocks YAML (respond/resolve/escalation); None: SPEC §6
    oncall: Path | None = None  # rotas and escalation chains YAML (SPEC §8.5); None: none

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    bootstrap_token: str | None = None  # an admin token created at start

    queue_max: int = 50_000  # messages held between paho's thread and the buffer writer
    batch_max: int = 5_000  # readings per write to the time-series store
    deadletter_max: int = 1_000  # rejected messages kept for operators

    # Incidents back onto MQTT (README "Incidents on MQTT"): off unless asked for.
    mqtt_publish_incidents: bool = False

    @model_validator(mode="after")
    def _database_beside_data(self) -> Settings:
        # The default database lives in the data folder (`./var` gives SPEC's default).
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir}/sitewatch.db"
        return self
