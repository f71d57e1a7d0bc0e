"""PostgreSQL databases for the suites: cloned from one migrated template, emptied between tests.

Migrating per test costs Alembic's whole chain and `CREATE DATABASE ... TEMPLATE` costs ~25 ms
(~100 ms on a loaded machine), so a module shares one cloned database and each test leaves it
empty (TRUNCATE, ~5 ms): a suite then runs every test on PostgreSQL as well as on SQLite.
"""

from __future__ import annotations

import itertools
import os
import threading

import psycopg
import pytest
import sqlalchemy as sa

from rules.db.database import open_database

# The ids a suite parametrizes its database over. PostgreSQL is production's database and runs
# in the whole suite; the fast loop (`-m "not slow"`) runs SQLite only to stay under a minute.
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]
LOCK_TIMEOUT = "10s"  # a test that leaked a transaction fails the emptying instead of hanging

_counter = itertools.count()


class MigratedDatabases:
    """Makes fresh databases on one PostgreSQL server, each already at Alembic head."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._template: str | None = None
        self._lock = threading.Lock()  # CREATE DATABASE ... TEMPLATE wants the template idle

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        )

    def url(self, name: str) -> str:
        """The SQLAlchemy URL of database `name` on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def new_url(self) -> str:
        """The URL of a new, empty database at the newest schema revision."""
        name = f"m{os.getpid()}_{next(_counter)}"
        with self._lock, self._admin() as conn:
            if self._template is None:
                template = f"tpl{os.getpid()}"
                conn.execute(f'CREATE DATABASE "{template}"')
                open_database(self.url(template)).dispose()  # no session may stay on a template
                self._template = template
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return self.url(name)


def empty_database(engine: sa.Engine) -> None:
    """Delete every row of every table but Alembic's, and restart the id sequences."""
    with engine.begin() as conn:
        tables = conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename <> 'alembic_version'"
        )).scalars().all()
        if tables:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            names = ", ".join(f'"{t}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


_sqlite_template: dict[str, bytes] = {}  # the migrated empty SQLite file, made once per run
_sqlite_lock = threading.Lock()


def migrated_sqlite(path: os.PathLike[str] | str) -> sa.Engine:
    """An engine on a fresh SQLite file at `path`, already at Alembic head: a copy of one
    migrated template (running the whole chain per test cost ~0.5 s of each test's setup).
    Only the test suites use it; the product always migrates with `open_database`."""
    from pathlib import Path

    from rules.db.database import create_engine

    with _sqlite_lock:
        if "file" not in _sqlite_template:
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="sitewatch-sqlite-template-"))
            open_database(f"sqlite:///{folder / 'template.db'}").dispose()
            _sqlite_template["file"] = (folder / "template.db").read_bytes()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(_sqlite_template["file"])
    return create_engine(f"sqlite:///{path}")
