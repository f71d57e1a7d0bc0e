"""The Alembic chain builds the schema the code expects, on empty SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from rules.db.database import alembic_config, create_engine, open_database, upgrade
from rules.db.schema import metadata
from tests.databases import DATABASES
from tests.rules.test_incidents import PACK_YAML, T0, fire

TABLES = {"incidents", "incident_timeline", "rule_state", "api_tokens"}


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file (in a folder that does not exist yet) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not' / 'yet' / 'sitewatch.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_migrations_on_an_empty_database_match_the_schema_module(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= TABLES
            # Other modules own the tables of later revisions; compare the ones schema.py owns.
            context = MigrationContext.configure(conn, opts={"include_name": _ours})
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert context.get_current_revision() == head
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or name in metadata.tables


def test_opening_the_database_twice_keeps_its_data(db_url: str) -> None:
    from rules.engine.loader import parse_rules
    from rules.incidents.service import IncidentService

    engine = open_database(db_url)
    IncidentService(engine, parse_rules(PACK_YAML)).apply(fire("fire-alarm"))
    engine.dispose()
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar_one()
            revisions = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one()
        assert (count, revisions) == (1, 1)
        assert (
            IncidentService(engine, parse_rules(PACK_YAML)).list()[0][0].opened_at.timestamp() == T0
        )
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        upgrade(engine)
        from alembic import command

        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'sitewatch.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 5000
    finally:
        engine.dispose()
