"""who added each source and feed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("added_by", sa.String(length=32), nullable=True))
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("added_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("added_by")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("added_by")
