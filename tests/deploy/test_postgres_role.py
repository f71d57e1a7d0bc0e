"""deploy/postgres's role script on a real PostgreSQL: Sitewatch owns its schema, nothing else."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from rules.db.database import open_database
from tests.servers import Server

pytestmark = pytest.mark.slow  # psql and a real PostgreSQL
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "postgres" / "sitewatch-role.sql.in"


def test_sitewatch_app_migrates_into_its_own_schema_and_cannot_write_public(
    postgres: Server,
) -> None:
    db = "sitewatch_role_test"
    admin = f"host=127.0.0.1 port={postgres.port} user=postgres"
    with psycopg.connect(f"{admin} dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        conn.execute("DROP ROLE IF EXISTS sitewatch_app")
        conn.execute(f'CREATE DATABASE "{db}"')
    subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(postgres.port), "-U",
         "postgres", "-d", db, "-v", "pw=app-secret", "-v", f"db={db}", "-f", str(SCRIPT)],
        check=True, capture_output=True, timeout=60,
    )
    engine = open_database(f"postgresql+psycopg://sitewatch_app:app-secret@127.0.0.1:"
                           f"{postgres.port}/{db}")
    try:
        with engine.connect() as conn:
            tables = set(conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'sitewatch' "
                "AND tableowner = 'sitewatch_app'")).scalars())
            assert {"incidents", "api_tokens", "alembic_version"} <= tables
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("CREATE TABLE public.intruder (x int)"))
            conn.rollback()
            is_super = conn.execute(sa.text(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user")).scalar()
            assert is_super is False
    finally:
        engine.dispose()
        with psycopg.connect(f"{admin} dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
            conn.execute("DROP ROLE sitewatch_app")
