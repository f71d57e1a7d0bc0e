"""Site handover records in PostgreSQL (SPEC §11, docs/SCALING.md "taken twice at kill -9").

`site_owners` says which instance (a persistent id kept in its data folder, plus the id of
its process run, the boot) served each site last, and is cleared when it hands the site over
cleanly. A new owner that finds a row still set knows the previous owner died: the messages
the broker redelivers from that owner's unacked window (DUP set) may already be in the dead
owner's durable log, so the new owner parks them in `site_redeliveries` instead of taking
them. The dead owner, back with its data folder, settles them against its log; if it does
not come back, the site's owner takes them after a wait.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from rules.db.schema import site_owners, site_redeliveries


@dataclass(frozen=True)
class Owner:
    """One process run of one instance."""

    instance: str  # persistent: the same after a restart with the same data folder
    boot: str  # this run


@dataclass(frozen=True)
class Parked:
    """A redelivered message held for its site's previous owner to settle."""

    id: int
    site: str
    prev: Owner
    body: str  # encoded reading (ingest/log.py), with the new owner's receive time


def digest(body: str) -> str:
    """What identifies a reading's content: its encoded body without the receive time."""
    return hashlib.sha256(same_reading(body).encode()).hexdigest()


def same_reading(body: str) -> str:
    """An encoded reading with its receive time blanked (the fifth field, and the fourth, the
    reading's time, when it is the receive time: no `ts` in the payload), so that two receipts
    of one message compare equal."""
    fields = json.loads(body)
    if fields[3] == fields[4]:
        fields[3] = 0
    fields[4] = 0
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


class HandoverStore:
    """The two tables, for one instance run."""

    def __init__(self, engine: sa.Engine, me: Owner, clock: Callable[[], float] = time.time):
        self._engine = engine
        self.me = me
        self._clock = clock

    def take(self, site: str) -> Owner | None:
        """Record this run as the site's owner; the previous owner if it did not hand the site
        over cleanly (it died, or lost its ownership connection), else None."""
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(site_owners).where(site_owners.c.site == site)
                               .with_for_update()).first()
            values = {"instance": self.me.instance, "boot": self.me.boot, "since": self._clock()}
            if row is None:
                conn.execute(site_owners.insert().values(site=site, **values))
                return None
            conn.execute(site_owners.update().where(site_owners.c.site == site).values(values))
        prev = Owner(row.instance, row.boot) if row.instance is not None else None
        return prev if prev != self.me else None

    def release(self, site: str) -> None:
        """This run handed the site over cleanly (everything it logged was acked)."""
        with self._engine.begin() as conn:
            conn.execute(site_owners.update().where(
                site_owners.c.site == site, site_owners.c.instance == self.me.instance,
                site_owners.c.boot == self.me.boot).values(instance=None, boot=None))

    def park(self, site: str, prev: Owner, messages: Sequence[tuple[int, str]]) -> None:
        """Hold redelivered messages (packet id, encoded reading), in arrival order; durable on
        return. A message redelivered again (same packet id and content) is held once."""
        now = self._clock()
        rows = [{"site": site, "prev_instance": prev.instance, "prev_boot": prev.boot,
                 "mid": mid, "digest": digest(body), "body": body, "parked_at": now}
                for mid, body in messages]
        with self._engine.begin() as conn:
            conn.execute(pg_insert(site_redeliveries).on_conflict_do_nothing(), rows)

    def settle(self, mine: bool, sites: Collection[str], parked_before: float,
               apply: Callable[[list[Parked]], None]) -> int:
        """Hand held messages to `apply`, then delete them, in one transaction (rows locked,
        others' settling skips them): `mine`, those whose previous owner is this instance
        (any run); else those at `sites` parked before `parked_before`. How many."""
        c = site_redeliveries.c
        where = [c.parked_at < parked_before]
        where.append(c.prev_instance == self.me.instance if mine else c.site.in_(sorted(sites)))
        with self._engine.begin() as conn:
            found = conn.execute(sa.select(site_redeliveries).where(*where).order_by(c.id)
                                 .with_for_update(skip_locked=True)).all()
            if not found:
                return 0
            apply([Parked(r.id, r.site, Owner(r.prev_instance, r.prev_boot), r.body)
                   for r in found])
            conn.execute(site_redeliveries.delete().where(c.id.in_([r.id for r in found])))
        return len(found)
