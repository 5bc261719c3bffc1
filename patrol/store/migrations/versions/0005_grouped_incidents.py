"""Incidents grouped by cause (issue 27): what an incident is about (``cause``: kind,
problem, endpoint templates...) and the journeys and steps it affects (``affected``:
per journey its steps, first and last seen, count and healthy streak). Incidents
opened before have neither: they are about their one step, as they were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("cause", sa.JSON(), nullable=True))
    op.add_column("incidents", sa.Column("affected", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("affected")
        batch.drop_column("cause")
