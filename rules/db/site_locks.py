"""Site ownership through PostgreSQL session-level advisory locks (SPEC §11, docs/SCALING.md).

Each instance holds one dedicated connection. Owning a site is holding
`pg_try_advisory_lock(key(site))` on it; the server frees every lock of a connection when it
closes, so a dead instance's sites are free as soon as PostgreSQL sees its connection gone
(at once for a killed process: its kernel closes the socket; for a lost machine, after the
TCP keepalive probes set below). The connection's `application_name` marks it as an instance,
so `pg_stat_activity` counts the live instances without a table of our own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

APP_PREFIX = "sitewatch-sites:"  # application_name of every ownership connection
KEEPALIVE = {  # a lost machine's connection (and its locks) is dropped after ~20 s of silence
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 3, "keepalives_count": 3,
}
SERVER_KEEPALIVE_SQL = (  # the server's side of the same probes, settable per session
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 3; "
    "SET tcp_keepalives_count = 3"
)


class SiteLocksUnavailable(Exception):
    """The ownership connection failed: every lock it held is gone (or soon will be)."""


def lock_key(group: str, site: str) -> int:
    """The advisory lock key of a site: a signed 64-bit hash of the instance group and site."""
    digest = hashlib.sha256(f"sitewatch-site\0{group}\0{site}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def group_tag(group: str) -> str:
    """The application_name prefix shared by one group's instances (63 bytes at most in all)."""
    short = hashlib.sha256(group.encode()).hexdigest()[:12]
    return f"{APP_PREFIX}{short}:"


class SiteLocks:
    """One instance's ownership connection: try, release and list site locks; count peers."""

    def __init__(self, database_url: str, group: str) -> None:
        url = sa.make_url(database_url)
        if url.get_backend_name() != "postgresql":
            raise ValueError("site ownership needs PostgreSQL as SITEWATCH_DATABASE_URL")
        self.group = group
        self.tag = group_tag(group)
        self.name = f"{self.tag}{uuid.uuid4().hex[:12]}"  # this instance, as PostgreSQL shows it
        self.channel = f"sitewatch_sites_{self.tag[len(APP_PREFIX):-1]}"  # LISTEN/NOTIFY
        self._engine = sa.create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            connect_args={"application_name": self.name, "connect_timeout": 5, **KEEPALIVE},
        )
        self._conn: sa.Connection | None = None

    def connect(self) -> None:
        """Open the dedicated connection (a new one holds no lock)."""
        self.close()
        try:
            conn = self._engine.connect()
            conn.exec_driver_sql(SERVER_KEEPALIVE_SQL)
            conn.exec_driver_sql(f"LISTEN {self.channel}")  # peers' releases wake us
        except sa.exc.SQLAlchemyError as e:
            raise SiteLocksUnavailable(str(e).splitlines()[0]) from None
        self._conn = conn

    def _run(self, sql: str, **params: object) -> sa.CursorResult[Any]:
        if self._conn is None:
            raise SiteLocksUnavailable("not connected")
        try:
            return self._conn.execute(sa.text(sql), params)
        except sa.exc.SQLAlchemyError as e:
            self.close()
            raise SiteLocksUnavailable(str(e).splitlines()[0]) from None

    def try_lock(self, site: str) -> bool:
        """Take the site's lock if nobody holds it; True when this connection holds it now."""
        row = self._run("SELECT pg_try_advisory_lock(:k)", k=lock_key(self.group, site)).one()
        return bool(row[0])

    def unlock(self, site: str) -> None:
        """Release the site's lock and wake the peers, so one takes it at once."""
        self._run("SELECT pg_advisory_unlock(:k), pg_notify(:ch, :site)",
                  k=lock_key(self.group, site), ch=self.channel, site=site)

    def announce(self) -> None:
        """Wake the peers (this instance is below its share: a peer with a surplus should
        hand it over now, not at its next periodic check)."""
        self._run("SELECT pg_notify(:ch, '')", ch=self.channel)

    def wait_release(self, timeout: float) -> bool:
        """Block up to `timeout` s for a peer's notice (a release, or a peer below its
        share); True when one came. Our own notices are not news."""
        if self._conn is None:
            return False
        raw = self._conn.connection.driver_connection
        assert raw is not None  # a live pooled connection always has its driver's
        try:
            me = raw.info.backend_pid
            return any(n.pid != me for n in raw.notifies(timeout=timeout, stop_after=1))
        except Exception as e:  # noqa: BLE001 - the driver's error, whatever it is
            self.close()
            raise SiteLocksUnavailable(str(e).splitlines()[0]) from None

    def holdings(self) -> dict[str, int]:
        """Instances of this group connected now (this one included) -> site locks held."""
        found: Sequence[Any] = self._run(
            "SELECT a.application_name, count(l.pid) FROM pg_stat_activity a "
            "LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted "
            "WHERE a.datname = current_database() AND a.application_name LIKE :tag "
            "GROUP BY a.application_name", tag=f"{self.tag}%",
        ).all()  # (name, locks held)
        return {str(row[0]): int(row[1]) for row in found} or {self.name: 0}

    def close(self) -> None:
        """Close the connection: the server frees every lock it held."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sa.exc.SQLAlchemyError:
                conn.invalidate()

    def dispose(self) -> None:
        """Close for good."""
        self.close()
        self._engine.dispose()
