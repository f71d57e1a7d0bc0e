"""All settings in one place (SPEC §4), read from the environment once, at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # SPEC §2


class Settings(BaseSettings):
    """Sitewatch configuration; every field maps to `SITEWATCH_<NAME>`."""

    # An empty variable (as .env.example leaves optional ones) means the default.
    model_config = SettingsConfigDict(
        env_prefix="SITEWATCH_", extra="ignore", env_ignore_empty=True
    )

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
    # `processes`: the telemetry session and its log writer run in a child process of their
    # own (api/ingest_process.py), off the lock the rules and the store drain share;
    # `threads`: all in one process.
    workers: Literal["threads", "processes"] = "threads"
    deadletter_max: int = 1_000  # rejected messages kept for operators
    resolve_grace_s: float = 600.0  # after a forced resolve, seconds before rechecking it
    retention_days: float = Field(default=90.0, ge=0)  # telemetry kept (embedded; new v1 db); 0: ∞
    log_soft_limit_mb: float = 2_048  # durable log size (MB) past which health warns
    log_hard_limit_mb: float = 8_192  # past this (MB) telemetry is refused, unacked; never events

    # --- security limits (api/limits.py, SECURITY.md) ---
    body_max_bytes: int = 65_536  # request bodies over this get 413 (SPEC §7: 64 KiB)
    rate_limit: str = "6000/minute"  # requests per token (`limits` syntax); over: 429
    auth_fail_limit: str = "60/minute"  # failed authentications per client address; over: 429
    streams_per_token: int = 5  # open event streams one token may hold
    metrics_public: bool = False  # False: /metrics needs an API token; True: no token
    metrics_port: int | None = None  # set: /metrics served only on this port, without a token
    api_docs: bool = False  # serve /docs and /redoc (their scripts load from a public CDN)
    mqtt_ca_file: Path | None = None  # mqtts://: trust this CA (PEM) instead of the system's
    mqtt_cert_file: Path | None = None  # mqtts://: client certificate (PEM), with the key
    mqtt_key_file: Path | None = None  # mqtts://: the client certificate's private key (PEM)
    influx_token_file: Path | None = None  # read the InfluxDB token from here (deploy/influxdb)

    @field_validator("*", mode="after")
    @classmethod
    def _no_placeholder(cls, value: object) -> object:
        # .env.example's values: starting with one would run on a password anyone can read.
        if isinstance(value, str) and "change-me" in value:
            raise ValueError("still holds a change-me value from .env.example: set a real one")
        return value
    plans: Path | None = None  # emergency plans YAML (SPEC §8.3); None: the built-in set
    floor_plans: Path | None = None  # folder of SITE/FLOOR.svg|png|jpg for the console's map

    # Links in notices to people (rules/people/links.py): where people reach this server, and
    # the signing secret (unset: one is made once and kept in the database).
    public_url: str | None = None  # e.g. https://sitewatch.example.org; None: http://host:port
    link_secret: str | None = Field(default=None, repr=False)

    # Incidents back onto MQTT (README "Incidents on MQTT"): off unless asked for.
    mqtt_publish_incidents: bool = False

    # SPEC §11: the sites this instance serves: None (all, one instance as before), a comma
    # list of site ids, or `auto` (instances divide the registry's sites through PostgreSQL).
    sites: str | None = None

    @field_validator("sites")
    @classmethod
    def _sites_list(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "auto":
            return None if value is None else "auto"
        ids = [s.strip() for s in value.split(",") if s.strip()]
        bad = [s for s in ids if not SITE_ID.fullmatch(s)]
        if not ids or bad:
            raise ValueError(f"not `auto` nor a comma list of site ids: {bad or value!r}")
        return ",".join(dict.fromkeys(ids))

    def site_list(self) -> list[str] | None:
        """The listed sites (None: all sites, or `auto`)."""
        return None if self.sites in (None, "auto") else str(self.sites).split(",")

    @model_validator(mode="after")
    def _database_beside_data(self) -> Settings:
        # The default database lives in the data folder (`./var` gives SPEC's default).
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir}/sitewatch.db"
        if self.influx_token is None and self.influx_token_file is not None:
            try:
                self.influx_token = self.influx_token_file.read_text().strip() or None
            except OSError as e:
                raise ValueError(f"SITEWATCH_INFLUX_TOKEN_FILE: {e.strerror}") from None
        return self
