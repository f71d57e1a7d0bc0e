"""A local stand-in for InfluxDB 3 Core's HTTP API, for the v3 store's tests.

It checks each request against InfluxDB 3's documentation (paths, query parameters, bearer
token, JSON bodies), keeps written points in SQLite (schema on write, a column's type fixed
by its first write, last write wins per series and time) and answers SQL in InfluxDB 3's JSON
format. It runs the subset of SQL the store sends, translated to SQLite: `$name` parameters,
`to_timestamp_micros(...)`, `date_bin(INTERVAL 'N microseconds', time, origin)`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TAG_COLUMNS = ("site", "zone", "device_id", "kind", "event")


class LineError(ValueError):
    """A line of line protocol that does not parse."""


def _split(text: str, seps: str, quotes: bool = False) -> tuple[str, str, str]:
    """Text up to the first unescaped (and, with `quotes`, unquoted) separator."""
    out, i, quoted = [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if c == '"' and quotes:
            quoted = not quoted
        elif c in seps and not quoted:
            return "".join(out), c, text[i + 1:]
        out.append(c)
        i += 1
    return "".join(out), "", ""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    """(measurement, tags, fields, time) of one line of line protocol."""
    series, _, rest = _split(line, " ")
    fields_text, _, stamp = _split(rest, " ", quotes=True)
    parts, tags = [], {}
    head, sep, tail = _split(series, ",")
    parts.append(head)
    while sep:
        pair, sep, tail = _split(tail, ",")
        k, eq, v = _split(pair, "=")
        if not eq or not v:
            raise LineError(f"bad tag {pair!r}")
        tags[_unescape(k)] = _unescape(v)
    fields: dict[str, Any] = {}
    tail, sep = fields_text, ","
    while sep:
        pair, sep, tail = _split(tail, ",", quotes=True)
        k, eq, v = _split(pair, "=", quotes=True)
        if not eq:
            raise LineError(f"bad field {pair!r}")
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            fields[_unescape(k)] = re.sub(r'\\([\\"])', r"\1", v[1:-1])
        elif v in ("true", "false"):
            fields[_unescape(k)] = v == "true"
        else:
            fields[_unescape(k)] = float(v)
    if not stamp.strip().lstrip("-").isdigit():
        raise LineError(f"bad timestamp {stamp!r}")
    return _unescape(parts[0]), tags, fields, int(stamp)


@dataclass
class FakeInfluxV3:
    """What the fake server saw and keeps; `token` is the bearer token it expects."""

    url: str = ""
    token: str = "v3-token"
    db: sqlite3.Connection = field(
        default_factory=lambda: sqlite3.connect(":memory:", check_same_thread=False))
    types: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> type
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this status (fault injection)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, database: str, body: str) -> tuple[int, dict[str, Any]]:
        """Apply a write_lp body: all lines or none (accept_partial=false)."""
        parsed, errors = [], []
        for n, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                parsed.append(parse_line(line))
            except (LineError, ValueError) as e:
                errors.append({"original_line": line, "line_number": n, "error_message": str(e)})
        for n, (table, _, fields, _) in enumerate(parsed, start=1):
            for name, value in fields.items():
                kind = type(value).__name__
                known = self.types.get(table, {}).get(name)
                if known is not None and known != kind:
                    errors.append({"original_line": f"line {n}", "line_number": n,
                                   "error_message": f"invalid column type for column '{name}',"
                                   f" expected {known}, got {kind}"})
        if errors:
            return 400, {"error": "parsing failed for write_lp endpoint", "data": errors}
        for table, tags, fields, stamp in parsed:
            self._insert(table, tags, fields, stamp)
        return 204, {}

    def _insert(self, table: str, tags: dict[str, str], fields: dict[str, Any], t: int) -> None:
        cols = self.types.setdefault(table, {})
        if not cols:
            self.db.execute(f'CREATE TABLE "{table}" (time INTEGER NOT NULL, '
                            + ", ".join(f'"{c}" TEXT' for c in TAG_COLUMNS) + ")")
            cols.update({"time": "time", **dict.fromkeys(TAG_COLUMNS, "tag")})
        for name, value in fields.items():
            if name not in cols:
                self.db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}"')
                cols[name] = type(value).__name__
        key = [tags.get(c) for c in TAG_COLUMNS]
        same = " AND ".join(f'"{c}" IS ?' for c in TAG_COLUMNS)
        row = self.db.execute(f'SELECT rowid FROM "{table}" WHERE time = ? AND {same}',
                              [t, *key]).fetchone()
        if row is None:
            self.db.execute(f'INSERT INTO "{table}" (time, {", ".join(TAG_COLUMNS)}) VALUES '
                            f'(?, {", ".join("?" * len(TAG_COLUMNS))})', [t, *key])
            row = self.db.execute("SELECT last_insert_rowid()").fetchone()
        sets = ", ".join(f'"{k}" = ?' for k in fields)
        self.db.execute(f'UPDATE "{table}" SET {sets} WHERE rowid = ?', [*fields.values(), row[0]])

    def query(self, q: str, params: dict[str, Any]) -> tuple[int, Any]:
        """Run one SQL statement; rows as InfluxDB 3's JSON format gives them."""
        if "information_schema.columns" in q:
            table = params.get("table", "")
            return 200, [{"column_name": c} for c in self.types.get(table, {})]
        table = re.search(r'FROM "?(\w+)"?', q)
        if table is None or table.group(1) not in self.types:
            return 404, {"error": f"table not found in query: {q[:80]}"}
        types = self.types[table.group(1)]
        for col in re.findall(r'avg\("(\w+)"\)', q):
            if types.get(col) in ("bool", "str"):
                kind = {"bool": "Boolean", "str": "Utf8"}[types[col]]
                return 400, {"error": f"Error during planning: No function matches avg({kind})"}
        sql = re.sub(r"date_bin\(INTERVAL '(\d+) microseconds', time, to_timestamp_micros\(0\)\)",
                     r"((time / \1) * \1)", q)
        sql = re.sub(r"to_timestamp_micros\(\$(\w+)\)", r":\1", sql)
        sql = re.sub(r"\$(\w+)", r":\1", sql)
        try:
            cur = self.db.execute(sql, params)
        except sqlite3.Error as e:
            return 400, {"error": f"Error during planning: {e}"}
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            item: dict[str, Any] = {}
            for name, value in zip(names, row, strict=True):
                if name == "time":
                    value = datetime.fromtimestamp(value / 1e6, UTC).replace(tzinfo=None)
                    value = value.isoformat(timespec="microseconds")
                elif types.get(name) == "bool" and value is not None:
                    value = bool(value)
                if value is not None:  # InfluxDB 3's JSON leaves out null columns
                    item[name] = value
            out.append(item)
        return 200, out


@contextmanager
def serve() -> Iterator[FakeInfluxV3]:
    """A fake InfluxDB 3 on a free local port."""
    state = FakeInfluxV3()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None or status == 204 else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/health":
                self._answer(200 if state.fail_with is None else state.fail_with, {})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            with state.lock:
                state.requests.append((url.path, self.headers.get("Content-Type", ""), q))
                if state.fail_with is not None:
                    return self._answer(state.fail_with, {"error": "injected failure"})
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    return self._answer(401, {"error": "Unauthorized"})
                if url.path == "/api/v3/write_lp":
                    if q.get("precision") not in ("auto", "nanosecond", "microsecond",
                                                  "millisecond", "second") or "db" not in q:
                        return self._answer(400, {"error": f"bad write parameters {q}"})
                    return self._answer(*state.write(q["db"], raw.decode("utf-8")))
                if url.path == "/api/v3/query_sql":
                    body = json.loads(raw)
                    if set(body) - {"db", "q", "format", "params"} or body.get("format") != "json":
                        return self._answer(400, {"error": f"bad query body {sorted(body)}"})
                    return self._answer(*state.query(body["q"], body.get("params") or {}))
                return self._answer(404, {"error": "not found"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
