"""Nothing taken twice when a site's owner dies (SPEC §11, docs/SCALING.md).

An instance acks a message once it is in its durable log. At `kill -9`, what it had logged
but not yet acked (its last batch, whose PUBACKs had not reached the broker) is redelivered,
DUP set, to the site's next owner — which cannot see the dead owner's log. So a new owner
that finds the site's previous owner did not hand it over cleanly (rules/db/handover.py)
parks the redelivered messages of the site's telemetry session in PostgreSQL instead of
logging them, until the first message that is not a redelivery.

The dead owner, back with its data folder, settles them: its log keeps its last rows after
they are drained (KEEP_ROWS), and at start, before any consumer or session runs, it reads
that tail. It logged a prefix of the redelivered messages — the last rows of that site in its
log — so those are dropped and the rest appended to its log, taken once. If it does not come
back within WAIT_S, the site's owner takes every parked message (then a message the dead
owner had logged is taken twice, when it comes back: the documented bound).

Life-safety sessions do not park: an alarm is never held for a dead instance (its incident
is opened once; an alarm taken twice finds it open).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import sqlalchemy as sa

from api.jobs import Job
from devices.reading import Reading
from ingest.log import ReadingLog, decode_reading
from ingest.mqtt import Delivery
from rules.db.handover import HandoverStore, Owner, Parked, same_reading

log = logging.getLogger("sitewatch.sites")

KEEP_ROWS = 20_000  # drained rows the telemetry log keeps (~4 MB): more than any unacked window
SETTLE_AFTER_S = 2.0  # a parked message is settled once its site's replay is surely over
WAIT_S = 120.0  # parked messages of an owner that did not come back: taken after this
REPLAY_S = 30.0  # parking ends at the first fresh message, or this long after the first
ID_FILE = "instance-id"  # in the data folder: who this instance is across restarts


def instance_id(data_dir: Path) -> str:
    """This instance's persistent id, made at its first start with this data folder."""
    path = Path(data_dir) / ID_FILE
    if not path.exists():
        path.write_text(uuid.uuid4().hex[:16] + "\n")
    return path.read_text().strip()


def log_tail(path: Path, rows: int = KEEP_ROWS) -> dict[str, list[str]]:
    """Site -> its last readings in the log file, oldest first, receive times blanked."""
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute("SELECT body FROM readings ORDER BY id DESC LIMIT ?",
                             (rows,)).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    tail: dict[str, list[str]] = {}
    for (body,) in reversed(found):
        tail.setdefault(json.loads(body)[0], []).append(same_reading(body))
    return tail


def logged(tail: Sequence[str], parked: Sequence[str]) -> int:
    """How many of the parked messages (arrival order) the dead owner had logged: the longest
    prefix of them that its log's rows of that site end with."""
    for n in range(min(len(tail), len(parked)), 0, -1):
        if list(tail[-n:]) == list(parked[:n]):
            return n
    return 0


class Replay:
    """The hold hook of a taken site's telemetry session: park the redelivered messages."""

    def __init__(self, site: str, prev: Owner, store: HandoverStore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.site, self.prev = site, prev
        self._store, self._clock = store, clock
        self._until: float | None = None
        self.armed = True
        self.parked = 0

    def __call__(self, deliveries: Sequence[Delivery],
                 items: list[tuple[str, Reading]]) -> list[tuple[str, Reading]]:
        """The items to log; the redelivered ones are parked (durably) instead."""
        if not self.armed:
            return items
        now = self._clock()
        self._until = self._until or now + REPLAY_S
        held: list[tuple[int, str]] = []
        kept: list[tuple[str, Reading]] = []
        for d, item in zip(deliveries, items, strict=True):
            if self.armed and d.dup and now < self._until:
                held.append((d.mid, item[0]))
            else:
                self.armed = False
                kept.append(item)
        if held:
            self._store.park(self.site, self.prev, held)
            self.parked += len(held)
            log.info("site %s: %d redelivered messages held for %s", self.site, len(held),
                     self.prev.instance)
        return kept


class Handover:
    """One instance's side: its identity, its log's tail at start, parking and settling."""

    def __init__(self, engine: sa.Engine, data_dir: Path, telemetry_log: ReadingLog,
                 clock: Callable[[], float] = time.time) -> None:
        self.me = Owner(instance_id(data_dir), uuid.uuid4().hex[:16])
        self.store = HandoverStore(engine, self.me, clock)
        self._log = telemetry_log
        self._clock = clock
        self._tail = log_tail(telemetry_log.path)  # before any consumer or session runs
        telemetry_log.keep = KEEP_ROWS
        self.settled = {"dropped": 0, "taken": 0}

    def take(self, site: str) -> Replay | None:
        """Record the take; a Replay hook when the previous owner did not hand over cleanly."""
        prev = self.store.take(site)
        return None if prev is None else Replay(site, prev, self.store)

    def release(self, site: str) -> None:
        """The site was handed over cleanly (its sessions stopped, everything logged acked)."""
        try:
            self.store.release(site)
        except sa.exc.SQLAlchemyError as e:  # the next owner parks; we settle: nothing lost
            log.warning("cannot record the handover of site %s: %s", site, e)

    def settle_mine(self, now: float) -> int:
        """Settle what new owners parked for this instance (any earlier run of it)."""
        return self.store.settle(True, (), now - SETTLE_AFTER_S, self._settle)

    def take_overdue(self, now: float, sites: Collection[str]) -> int:
        """Take what was parked at our sites for an owner that has not come back."""
        n = self.store.settle(False, sites, now - WAIT_S, self._append)
        if n:
            log.warning("took %d redelivered messages held longer than %d s for a previous "
                        "owner that did not come back", n, WAIT_S)
            self.settled["taken"] += n
        return n

    def _settle(self, parked: list[Parked]) -> None:
        take: list[Parked] = []
        for site in sorted({p.site for p in parked}):
            mine = [p for p in parked if p.site == site]
            if all(p.prev.boot == self.me.boot for p in mine):  # we dropped it; nothing lost
                take += mine
                continue
            done = logged(self._tail.get(site, []), [same_reading(p.body) for p in mine])
            take += mine[done:]
            self.settled["dropped"] += done
            log.info("site %s: %d redelivered messages were in our log already, %d were not",
                     site, done, len(mine) - done)
        self._append(take)
        self.settled["taken"] += len(take)

    def _append(self, parked: list[Parked]) -> None:
        if parked:
            self._log.append_encoded([(p.body, decode_reading(p.body)) for p in parked])

    def jobs(self, owned: Callable[[], Collection[str]]) -> list[Job]:
        """Settling (every 2 s) and taking overdue messages (every 10 s)."""
        return [Job("handover-settle", self.settle_mine, 2.0),
                Job("handover-overdue", lambda now: self.take_overdue(now, owned()), 10.0)]
