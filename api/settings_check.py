"""Settings `serve` cannot work with, refused at start with one line naming the variable."""

from __future__ import annotations

import urllib.parse

from api.settings import Settings
from devices.broker_url import BrokerUrlError, parse_broker_url


class SettingsError(ValueError):
    """One setting is invalid; the message starts with its variable (SITEWATCH_...)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def check_serve_settings(settings: Settings) -> None:
    """Raise SettingsError for the first setting `serve` cannot run with."""
    try:
        parse_broker_url(settings.mqtt_url)
    except BrokerUrlError:
        raise SettingsError(
            "SITEWATCH_MQTT_URL",
            f"{settings.mqtt_url!r} is not mqtt://[user:pass@]host[:port] or mqtts://...",
        ) from None
    if settings.sites == "auto" and not settings.database_url.startswith("postgresql"):
        raise SettingsError(
            "SITEWATCH_SITES",
            "`auto` divides sites through PostgreSQL: set SITEWATCH_DATABASE_URL to a "
            "postgresql+psycopg:// URL shared by every instance, or list the sites",
        )
    if settings.influx_url is None:
        return  # the embedded store
    u = urllib.parse.urlsplit(settings.influx_url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise SettingsError(
            "SITEWATCH_INFLUX_URL",
            f"{settings.influx_url!r} is not an http:// or https:// URL (unset it for the "
            "embedded store)",
        )
    try:
        u.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        bad = f"{settings.influx_url!r} has a bad port"
        raise SettingsError("SITEWATCH_INFLUX_URL", bad) from None
    if settings.influx_api == "v2":
        for variable, value in (("SITEWATCH_INFLUX_TOKEN", settings.influx_token),
                                ("SITEWATCH_INFLUX_ORG", settings.influx_org)):
            if not value:
                raise SettingsError(variable, "InfluxDB v2 (SITEWATCH_INFLUX_API=v2, the "
                                    "default) needs it; or set SITEWATCH_INFLUX_API=v1")
