"""The InfluxDB 1.x store: line protocol to /write, InfluxQL to /query, over plain HTTP."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import httpx

from devices.reading import MetricValue, Reading
from ingest.stores.base import BadData, Sample, StoreUnavailable, every_us
from ingest.stores.lineprotocol import TELEMETRY, to_lines, ts_us


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes, so no name can end the quoting."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(text: str) -> str:
    """An InfluxQL string literal in single quotes, so no value can inject a clause."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _value(v: Any) -> MetricValue:
    # InfluxDB's JSON writes the float 22.0 as 22; every stored number is a float field.
    if isinstance(v, bool | str):
        return v
    return float(v)


class InfluxV1Store:
    """Telemetry in an InfluxDB 1.x database (the README's schema, microsecond timestamps)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10,
        create_database: bool = True,
        retention_s: float | None = None,  # duration of a database this store creates; None: ∞
    ) -> None:
        self._db = database
        self._retention_s = retention_s
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout_s)
        # Created lazily on first use, so the service starts while InfluxDB is still down.
        self._db_ready = not create_database
        self._lock = threading.Lock()

    def write(self, batch: Sequence[Reading]) -> None:
        """Write the batch; raises StoreUnavailable (retry) or BadData (a point was refused)."""
        lines = to_lines(batch)
        if not lines:
            return
        self._ensure_database()
        body = ("\n".join(lines) + "\n").encode("utf-8")
        params = {"db": self._db, "precision": "u"}
        resp = self._request("POST", "/write", params=params, content=body)
        if resp.status_code == 404 and "database not found" in resp.text:
            self._db_ready = False  # someone dropped it: create again and retry once
            self._ensure_database()
            resp = self._request("POST", "/write", params=params, content=body)
        self._check(resp, "write")

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every_s: float | None = None,
        limit: int = 10_000,
    ) -> list[Sample]:
        """A metric's samples in [start, end), oldest first; averaged per `every_s` if given."""
        where = (
            f"{quote_ident('device_id')} = {quote_string(device_id)}"
            f" AND time >= {ts_us(start)}u AND time < {ts_us(end)}u"
        )
        field, measurement = quote_ident(metric), quote_ident(TELEMETRY)
        if every_s is None:
            q = f"SELECT {field} FROM {measurement} WHERE {where} ORDER BY time ASC"
        else:
            window_us = every_us(every_s)
            q = (
                f"SELECT mean({field}) FROM {measurement} WHERE {where}"
                f" GROUP BY time({window_us}u) fill(none) ORDER BY time ASC"
            )
        q += f" LIMIT {int(limit)}"
        (result,) = self._select(q)
        return [
            Sample(row[0] / 1_000_000, _value(row[1]))
            for series in result.get("series", [])
            for row in series["values"]
            if row[1] is not None
        ]

    def latest(self, device_id: str) -> dict[str, Sample]:
        """The most recent value of each of the device's metrics."""
        (keys,) = self._select(f"SHOW FIELD KEYS FROM {quote_ident(TELEMETRY)}")
        fields = sorted({row[0] for s in keys.get("series", []) for row in s["values"]})
        if not fields:
            return {}
        # One LAST() per field: a multi-field LAST(*) reports time 0 instead of each field's time.
        cond = f"{quote_ident('device_id')} = {quote_string(device_id)}"
        q = ";".join(
            f"SELECT last({quote_ident(f)}) FROM {quote_ident(TELEMETRY)} WHERE {cond}"
            for f in fields
        )
        out: dict[str, Sample] = {}
        for name, result in zip(fields, self._select(q), strict=True):
            for series in result.get("series", []):
                for row in series["values"]:
                    if row[1] is not None:
                        out[name] = Sample(row[0] / 1_000_000, _value(row[1]))
        return out

    def ping(self) -> bool:
        """True if InfluxDB answers /ping now."""
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    def _ensure_database(self) -> None:
        with self._lock:
            if self._db_ready:
                return
            q = f"CREATE DATABASE {quote_ident(self._db)}"  # idempotent in InfluxDB 1.x
            if self._retention_s:
                # Only for a database that does not exist yet: on an existing one a different
                # duration is an error ("retention policy conflicts"), and its policy is the
                # operator's to keep.
                shown = self._request("GET", "/query", params={"q": "SHOW DATABASES"})
                self._check(shown, "show databases")
                series = (shown.json().get("results") or [{}])[0].get("series") or [{}]
                names = {v[0] for v in series[0].get("values") or []}
                if self._db not in names:
                    hours = max(1, round(self._retention_s / 3600))  # InfluxDB's minimum: 1 h
                    q += f" WITH DURATION {hours}h"
            self._check(self._request("POST", "/query", params={"q": q}), "create database")
            self._db_ready = True

    def _select(self, q: str) -> list[dict[str, Any]]:
        """Run read statements; one result per statement, statement errors raise BadData."""
        self._ensure_database()
        params = {"db": self._db, "q": q, "epoch": "u"}
        resp = self._request("GET", "/query", params=params)
        self._check(resp, "query")
        results: list[dict[str, Any]] = resp.json().get("results", [])
        for r in results:
            if "error" in r:
                raise BadData(f"InfluxDB refused the query: {r['error']}")
        return results

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.HTTPError as e:  # connect refused, timeout, reset
            raise StoreUnavailable(f"InfluxDB at {self._http.base_url} unreachable: {e!r}") from e

    def _check(self, resp: httpx.Response, what: str) -> None:
        code = resp.status_code
        if code < 300:
            return
        msg = _error_text(resp)
        if code in (401, 403):
            raise StoreUnavailable(
                f"InfluxDB {what} refused ({code}): check the v1 username and password ({msg})"
            )
        if code in (400, 413, 422):
            raise BadData(f"InfluxDB {what} refused ({code}): {msg}")
        raise StoreUnavailable(f"InfluxDB {what} failed ({code}): {msg}")


def _error_text(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))[:500]
    except ValueError:
        return resp.text[:500]
