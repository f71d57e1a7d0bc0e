"""CSV answers, streamed a chunk at a time: telemetry history and the incident list."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse

from rules.incidents.record import Incident

CSV_MEDIA = "text/csv; charset=utf-8"
CSV_ANSWER: dict[int | str, dict[str, Any]] = {  # merged into an endpoint's documented 200
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "JSON, or CSV with format=csv"}
}
INCIDENT_PAGE = 500  # incidents read from the database per step while streaming
INCIDENT_ROWS_MAX = 100_000  # the most incidents one CSV answer carries
INCIDENT_COLUMNS = (
    "id", "kind", "rule_id", "title", "department", "severity", "priority", "state", "site",
    "zone", "device_id", "occurrences", "opened_at", "acknowledged_at", "resolved_at",
    "assignee", "respond_by", "resolve_by", "respond_breached", "resolve_breached",
)


def _cell(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if v is None:
        return ""
    text = str(v)
    # A cell a spreadsheet would run as a formula is written as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else v


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[Any]], chunk_rows: int = 500
              ) -> Iterator[str]:
    """CSV text: the header, then the rows, `chunk_rows` rows per yielded piece."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([_cell(v) for v in row])
        if n % chunk_rows == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def csv_response(lines: Iterator[str], filename: str) -> StreamingResponse:
    """A streamed CSV download."""
    return StreamingResponse(lines, media_type=CSV_MEDIA,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def incident_rows(page: Callable[[int, int], list[Incident]], offset: int) -> Iterator[list[Any]]:
    """Every incident `page(limit, offset)` lists from `offset` on, INCIDENT_ROWS_MAX at most."""
    sent = 0
    while sent < INCIDENT_ROWS_MAX:
        items = page(min(INCIDENT_PAGE, INCIDENT_ROWS_MAX - sent), offset + sent)
        for i in items:
            yield [getattr(i, c) for c in INCIDENT_COLUMNS]
        sent += len(items)
        if len(items) < INCIDENT_PAGE:
            return


def incidents_csv(page: Callable[[int, int], list[Incident]], offset: int) -> StreamingResponse:
    """The incident list as a streamed CSV download."""
    rows = incident_rows(page, offset)
    return csv_response(csv_lines(INCIDENT_COLUMNS, rows), "incidents.csv")
