"""InfluxQL text for the InfluxDB 1.x store: names and values quoted so that none can end the
quoting or inject a clause, and the query of a measurement's period (of a site, of a device)."""

from __future__ import annotations

from ingest.stores.lineprotocol import ts_us


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes, so no name can end the quoting."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(text: str) -> str:
    """An InfluxQL string literal in single quotes, so no value can inject a clause."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def select_all(measurement: str, start: float, end: float, site: str | None,
               device_id: str | None) -> str:
    """Every column of a measurement's rows in [start, end) (Unix seconds; microsecond
    precision), of `site` and `device_id` where given."""
    where = f"time >= {ts_us(start)}u AND time < {ts_us(end)}u"
    if site is not None:
        where += f" AND {quote_ident('site')} = {quote_string(site)}"
    if device_id is not None:
        where += f" AND {quote_ident('device_id')} = {quote_string(device_id)}"
    return f"SELECT * FROM {quote_ident(measurement)} WHERE {where}"
