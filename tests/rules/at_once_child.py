"""The rules worker alone in a child process, for the kill -9 test of the life-safety commit:
`python -m tests.rules.at_once_child DATABASE_URL MARKER` handles one fire alarm and, inside
its one transaction after the incident rows are written, touches MARKER and waits to be
killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from rules.db.database import open_database
from rules.incidents.service import IncidentService
from tests.rules.test_at_once import ALARM, Stack


def main(database_url: str, marker: str) -> None:
    """Handle ALARM; stop for good inside the commit, once the incident is written."""
    stack = Stack(open_database(database_url))
    real = IncidentService.apply_in

    def apply_then_hang(self: IncidentService, conn: sa.Connection, *args: Any) -> Any:
        entries = real(self, conn, *args)
        Path(marker).touch()
        time.sleep(120)  # killed here: the transaction never commits
        return entries

    stack.worker.tick()  # nothing waits in the outbox: the alarm takes the one-transaction path
    IncidentService.apply_in = apply_then_hang  # type: ignore[method-assign,assignment]
    stack.worker.handle_life_safety([ALARM])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
