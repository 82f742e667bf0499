"""work in progress that must survive a restart: answers owed, refreshes started

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00

A caller records a job before starting it and removes it when done; a process that
died in between leaves the row, and its successor finishes the job.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_pending_kind", "pending", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_pending_kind", table_name="pending")
    op.drop_table("pending")
