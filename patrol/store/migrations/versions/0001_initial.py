"""State database, first version: runs, journey attempts and steps, incidents,
their events, journey/robot state, and the delivery outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("run_dir", sa.Text(), nullable=True),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "journey_runs",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("journey", sa.String(255), nullable=False),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("robot_error", sa.JSON(), nullable=True),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journey_runs"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_journey_runs_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_journey_runs_run_id", "journey_runs", ["run_id"])
    op.create_index("ix_journey_runs_history", "journey_runs", ["journey", "target", "device", "id"])
    op.create_table(
        "step_results",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("journey_run_id", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("budget_ms", sa.Float(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("screenshot", sa.Text(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_step_results"),
        sa.ForeignKeyConstraint(
            ["journey_run_id"], ["journey_runs.id"], name="fk_step_results_journey_run_id_journey_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_step_results_journey_run_id", "step_results", ["journey_run_id"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("journey", sa.String(255), nullable=False),
        sa.Column("journey_file", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("step_key", sa.String(255), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("healthy_streak", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(32), nullable=True),
        sa.Column("resolve_note", sa.Text(), nullable=True),
        sa.Column("first_run_id", sa.String(64), nullable=True),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_fingerprint", "incidents", ["fingerprint"])
    op.create_index(
        "uq_incidents_open_fingerprint", "incidents", ["fingerprint"], unique=True,
        sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "journey_state",
        sa.Column("key", sa.String(400)),
        sa.Column("journey", sa.String(255), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("flap_percent", sa.Float(), nullable=False),
        sa.Column("flapping_since", sa.DateTime(), nullable=True),
        sa.Column("flapping_incident_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_journey_state"),
    )
    op.create_table(
        "robot_state",
        sa.Column("target", sa.String(16)),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_robot_state"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("uid", sa.String(40), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("journey", sa.String(255), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("uid", name="uq_events_uid"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_events_incident_id_incidents", ondelete="CASCADE"),
    )
    op.create_index("ix_events_incident_id", "events", ["incident_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_deliveries_event_id_events", ondelete="CASCADE"),
    )
    op.create_index("ix_deliveries_event_id", "deliveries", ["event_id"])
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_receiver_stream", "deliveries", ["receiver", "stream", "id"])


def downgrade() -> None:
    for table in ("deliveries", "events", "robot_state", "journey_state", "incidents", "step_results", "journey_runs", "runs"):
        op.drop_table(table)
