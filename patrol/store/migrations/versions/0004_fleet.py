"""The fleet (issue 13): one row per firing (schedule, journey, fire time) with its
lease, and one row per attempt at it (finished, or interrupted by a lost worker).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_firings",
        sa.Column("key", sa.String(255)),
        sa.Column("job_id", sa.String(160), nullable=False),
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("journey", sa.String(255), nullable=False),
        sa.Column("fire_time", sa.DateTime(), nullable=False),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_fleet_firings"),
    )
    op.create_index("ix_fleet_firings_journey_state", "fleet_firings", ["journey", "state"])
    op.create_index("ix_fleet_firings_state", "fleet_firings", ["state"])
    op.create_table(
        "fleet_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("firing_key", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_attempts"),
        sa.ForeignKeyConstraint(["firing_key"], ["fleet_firings.key"], ondelete="CASCADE",
                                name="fk_fleet_attempts_firing_key_fleet_firings"),
    )
    op.create_index("ix_fleet_attempts_firing_key", "fleet_attempts", ["firing_key"])


def downgrade() -> None:
    op.drop_index("ix_fleet_attempts_firing_key", table_name="fleet_attempts")
    op.drop_table("fleet_attempts")
    op.drop_index("ix_fleet_firings_state", table_name="fleet_firings")
    op.drop_index("ix_fleet_firings_journey_state", table_name="fleet_firings")
    op.drop_table("fleet_firings")
