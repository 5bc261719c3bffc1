"""Web Vitals per step (issue 20): each web step's LCP, CLS, INP, FCP and TTFB as the
report has them (``step_results.vitals``), for the console's step trends. Steps
recorded before have none.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("step_results", sa.Column("vitals", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_results") as batch:
        batch.drop_column("vitals")
