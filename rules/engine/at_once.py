"""The life-safety lane's commit: rule state, its outbox rows and the incidents they open or
bump, in one write transaction.

The two-step path (state and outbox rows in one transaction, then each row applied to
incidents in a transaction of its own that marks it applied) costs an alarm two write locks
and two syncs, plus a read of the outbox between them; under telemetry load the alarm queued
behind its own steps. In one transaction a crash leaves either nothing (the log cursor has
not moved: the batch is evaluated again and its keys are new) or everything (the rows, born
applied, with their incidents): an alarm opens its incident once, or not yet.

Taken only when no row waits in the outbox (an older signal is applied first, in order), and
left for the two-step path when a key is already there (a batch evaluated again after a crash:
its row is drained as before). A racer's insert or a failing apply (a bug, not an outage)
falls back to the two-step path, which retries and parks as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from rules.db.outbox import OUTAGE, KeyedSignal, SqlSignalOutbox, unavailable
from rules.engine.state import RuleState, StateKey
from rules.incidents.record import TimelineEntry
from rules.incidents.service import IncidentService

log = logging.getLogger("sitewatch.rules")


class FallBack(Exception):
    """The one-transaction commit did not happen (rolled back): use the two-step path."""


def commit_applying(
    outbox: SqlSignalOutbox, incidents: IncidentService,
    states: Mapping[StateKey, RuleState | None], keyed: Sequence[KeyedSignal],
) -> tuple[int, bool]:
    """Commit states and signals and apply the signals, all or nothing: (signals applied,
    whether a row is left to drain). StateUnavailable on an outage; FallBack otherwise."""

    def work(conn: sa.Connection) -> tuple[tuple[int, bool], list[TimelineEntry]]:
        entries: list[TimelineEntry] = []
        applied, leftover = 0, False
        for new, ks in zip(outbox.commit_applied(conn, states, keyed), keyed, strict=True):
            if not new:
                leftover = True  # committed by an earlier run of this batch: drained later
                continue
            entries += incidents.apply_in(conn, ks.signal, datetime.fromtimestamp(
                ks.signal.at, UTC))
            applied += 1
        return (applied, leftover), entries

    try:
        return incidents.write_once(work)
    except OUTAGE as exc:
        raise unavailable(exc) from exc
    except Exception as exc:
        log.warning("life-safety signals not applied with their state (%r): applied from "
                    "the outbox instead", exc)
        raise FallBack from exc
