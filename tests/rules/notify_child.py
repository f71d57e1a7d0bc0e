"""A notifier alone in a child process, for the kill -9 test: `python -m tests.rules.notify_child
DATABASE_URL WEBHOOK_URL` sends along one webhook route until killed."""

from __future__ import annotations

import sys
import time

from rules.db.database import open_database
from rules.engine.loader import parse_rules
from rules.incidents.service import IncidentService
from rules.notify.dispatcher import Notifier
from rules.notify.routes import Route


def main(database_url: str, webhook_url: str) -> None:
    """Run the notifier with one route until the process is killed."""
    engine = open_database(database_url)
    service = IncidentService(engine, parse_rules("[]"))
    route = Route(name="hook", channel="webhook", url=webhook_url, secret="s", backoff_s=0.2,
                  timeout_s=60)
    Notifier(engine, service, [route], poll_s=0.2).start()
    print("notifier started", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
