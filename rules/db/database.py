"""Opening the relational database: engine settings per dialect, then Alembic `upgrade head`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).with_name("migrations")

# Execution option for transactions that write: on SQLite they start with BEGIN IMMEDIATE, so
# the write lock is taken (waiting up to busy_timeout) before anything is read; a deferred
# transaction that reads and then writes fails at once with "database is locked" instead.
WRITE: dict[str, Any] = {"sitewatch_write": True}
SQLITE_BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another writer's lock


def open_database(url: str) -> sa.Engine:
    """An engine on `url` with the schema at the newest revision; safe to call at every start."""
    engine = create_engine(url)
    upgrade(engine)
    return engine


def database_health(engine: sa.Engine) -> dict[str, Any]:
    """ok when a trivial query answers."""
    try:
        with engine.connect() as c:
            c.exec_driver_sql("select 1")
    except Exception as e:  # noqa: BLE001 - health answers whatever the driver raises
        return {"ok": False, "error": type(e).__name__}
    return {"ok": True}


class DatabaseUrlError(ValueError):
    """SITEWATCH_DATABASE_URL names a database Sitewatch does not support or cannot parse."""


SUPPORTED_BACKENDS = ("sqlite", "postgresql")  # upserts and locking are written for these


def create_engine(url: str) -> sa.Engine:
    """An engine on `url` without touching the schema (SQLite: folder made, WAL, busy timeout)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise DatabaseUrlError(f"database URL {url!r}: {e}") from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise DatabaseUrlError(
            f"database URL {url!r}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    kwargs: dict[str, Any] = {}
    if database in ("", ":memory:") or database.startswith("file:"):
        # One shared connection, or every connection would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)
    _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is switched off; `_on_begin` issues ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("sitewatch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run the Alembic chain in rules/db/migrations up to `revision` on `engine`."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config
