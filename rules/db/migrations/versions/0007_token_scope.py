"""API tokens: sites they are limited to, an optional expiry, names reusable once revoked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
# SQLite's UNIQUE on `name` was created unnamed; batch mode finds it by this convention.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_PG_NAME_UNIQUE = "api_tokens_name_key"  # PostgreSQL's default name for it
_LIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    """Add sites and expires_at; make the name unique only among unrevoked tokens."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("api_tokens", naming_convention=_SQLITE_NAMES) as batch:
            batch.drop_constraint("uq_api_tokens_name", type_="unique")
            batch.add_column(sa.Column("sites", sa.String(1024), nullable=True))
            batch.add_column(sa.Column("expires_at", _TS, nullable=True))
    else:
        op.drop_constraint(_PG_NAME_UNIQUE, "api_tokens", type_="unique")
        op.add_column("api_tokens", sa.Column("sites", sa.String(1024), nullable=True))
        op.add_column("api_tokens", sa.Column("expires_at", _TS, nullable=True))
    op.create_index(
        "ux_api_tokens_live_name", "api_tokens", ["name"], unique=True,
        sqlite_where=_LIVE, postgresql_where=_LIVE,
    )


def downgrade() -> None:
    """Drop the columns and the partial index (fails if a revoked name was reused)."""
    op.drop_index("ux_api_tokens_live_name", table_name="api_tokens")
    with op.batch_alter_table("api_tokens", naming_convention=_SQLITE_NAMES) as batch:
        batch.drop_column("expires_at")
        batch.drop_column("sites")
        batch.create_unique_constraint("uq_api_tokens_name", ["name"])
