"""History, schedules and retention: which schedule fired a run, what retention
pruned of it, an index for time-window queries, and the scheduler's job store.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("schedule", sa.String(128), nullable=True))
    op.add_column("runs", sa.Column("screenshots_pruned_at", sa.DateTime(), nullable=True))
    op.add_column("runs", sa.Column("report_pruned_at", sa.DateTime(), nullable=True))
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    # APScheduler's SQLAlchemyJobStore table, owned by the migrations so that the
    # database's schema is in one place (APScheduler only creates it if missing).
    op.create_table(
        "patrol_schedule_jobs",
        sa.Column("id", sa.Unicode(191)),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_patrol_schedule_jobs"),
    )
    op.create_index("ix_patrol_schedule_jobs_next_run_time", "patrol_schedule_jobs", ["next_run_time"])


def downgrade() -> None:
    op.drop_index("ix_patrol_schedule_jobs_next_run_time", table_name="patrol_schedule_jobs")
    op.drop_table("patrol_schedule_jobs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("report_pruned_at")
        batch.drop_column("screenshots_pruned_at")
        batch.drop_column("schedule")
