"""Devices: the registry kept in the database and its change log, each device's liveness,
and which instance serves each site (SPEC §10, §11)."""

from __future__ import annotations

import sqlalchemy as sa

from rules.db.tables.base import metadata

# One row per device: the liveness a restart must not forget (rules/db/device_states.py).
device_states = sa.Table(
    "device_states",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(128), nullable=True),
    sa.Column("kind", sa.String(64), nullable=True),
    sa.Column("registered", sa.Boolean, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=True),  # Unix seconds of the last sign of life
    sa.Column("online_since", sa.Float, nullable=True),  # Unix seconds the current run began
    sa.Column("offline_since", sa.Float, nullable=True),  # Unix seconds of an `offline` status
    sa.Column("latest", sa.JSON, nullable=False),  # metric -> [ts Unix seconds, value]
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds of the last save
)


# The device registry kept in the database (SPEC §10): SITEWATCH_DEVICES is imported into it at
# start, the API creates, updates and retires devices; a retired device keeps its row (and its
# history in the stores) with `retired_at` set.
registry_devices = sa.Table(
    "registry_devices",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(128), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("interval_s", sa.Float, nullable=True),  # overrides the kind's interval, seconds
    sa.Column("retired_at", sa.Float, nullable=True),  # Unix seconds; None: in service
    sa.Column("created_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("updated_by", sa.String(100), nullable=False),
)


registry_zones = sa.Table(
    "registry_zones",
    metadata,
    sa.Column("zone", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("updated_by", sa.String(100), nullable=False),
)


# Where a device sits on its floor plan (the console's site map; registry floor, x, y).
for _column in (
    sa.Column("floor", sa.String(64), nullable=True),
    sa.Column("x", sa.Float, nullable=True),  # % of the plan's width, from the left
    sa.Column("y", sa.Float, nullable=True),  # % of the plan's height, from the top
):
    registry_devices.append_column(_column)


# One row per change to the device registry (who, when, what): the audit log reads these.
device_changes = sa.Table(
    "device_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),  # Unix seconds
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),  # create | update | retire
    sa.Column("changes", sa.JSON, nullable=False),  # field -> [before, after]
    sa.Index("ix_device_changes_device_id", "device_id"),
)


# SITEWATCH_SITES=auto (SPEC §11, docs/SCALING.md): who served each site last, and the
# messages a site's new owner got redelivered from a dead owner's session, held until that
# owner (back with its data folder) says which of them its own log already has.
site_owners = sa.Table(
    "site_owners",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("instance", sa.String(64), nullable=True),  # None: handed over cleanly
    sa.Column("boot", sa.String(32), nullable=True),  # that instance's process run
    sa.Column("since", sa.Float, nullable=False),  # Unix seconds
)
site_redeliveries = sa.Table(
    "site_redeliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("prev_instance", sa.String(64), nullable=False),  # the owner that died
    sa.Column("prev_boot", sa.String(32), nullable=False),
    sa.Column("mid", sa.Integer, nullable=False),  # packet id: the same on each redelivery
    sa.Column("digest", sa.String(64), nullable=False),  # of the reading, receive time aside
    sa.Column("body", sa.Text, nullable=False),  # the reading as the durable log encodes it
    sa.Column("parked_at", sa.Float, nullable=False),  # Unix seconds
    sa.UniqueConstraint("site", "mid", "digest", name="uq_site_redeliveries_message"),
    sa.Index("ix_site_redeliveries_prev", "prev_instance"),
)
