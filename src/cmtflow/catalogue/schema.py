"""The catalogue's tables and their versioned migrations.

Each migration is a function of a connection, applied once, in order, inside a transaction;
``schema_version`` records which were applied. A new version appends a function: existing
databases upgrade on their next connection, and a database newer than this code is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("depth_km", sa.Float, nullable=False),
    sa.Column("magnitude", sa.Float, nullable=False),
    sa.Column("magnitude_type", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("event_id", sa.String(128), sa.ForeignKey("events.event_id"), nullable=False, index=True),
    sa.Column("conf", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running | success | failed
    sa.Column("run_dir", sa.String(1000), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

simulations = sa.Table(
    "simulations", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # computing | complete
    sa.Column("solver", sa.String(32), nullable=False),
    sa.Column("solver_version", sa.String(32), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("event_id", sa.String(128), nullable=False, index=True),
    sa.Column("variant", sa.String(32), nullable=False),
    sa.Column("source", sa.JSON, nullable=False),  # centroid and moment tensor (N·m)
    sa.Column("n_stations", sa.Integer, nullable=False),
    sa.Column("dt", sa.Float, nullable=False),
    sa.Column("npts", sa.Integer, nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("created_by_run", sa.String(200), nullable=False),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("heartbeat", sa.DateTime(timezone=True)),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.Column("seconds", sa.Float),
)

run_simulations = sa.Table(  # which run used which simulation, and whether it reused it
    "run_simulations", metadata,
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("key", sa.String(64), sa.ForeignKey("simulations.key"), primary_key=True),
    sa.Column("variant", sa.String(32), nullable=False),
    sa.Column("reused", sa.Boolean, nullable=False),
)

solutions = sa.Table(
    "solutions", metadata,
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("event_id", sa.String(128), sa.ForeignKey("events.event_id"), nullable=False, index=True),
    sa.Column("mw", sa.Float, nullable=False),
    sa.Column("m0_nm", sa.Float, nullable=False),
    sa.Column("centroid", sa.JSON, nullable=False),
    sa.Column("moment_tensor_nm", sa.JSON, nullable=False),
    sa.Column("variance_reduction", sa.Float, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),  # the whole solution.json
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
)


def _v1(conn) -> None:
    metadata.create_all(conn, tables=[events, runs, simulations, run_simulations, solutions])


#: Migrations in order; the schema version is their count.
MIGRATIONS = (_v1,)
VERSION = len(MIGRATIONS)
