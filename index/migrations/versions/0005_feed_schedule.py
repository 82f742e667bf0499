"""feeds poll on a schedule; stories are recognised when re-posted

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00

A feed remembers its own interval (if it overrides [feeds] interval), how many checks in
a row failed (the back-off) and its last success; when it is next due follows from those
and its last check. A source
keeps the canonical URL its page declared and a simhash of its text, so the same story
under a new URL, re-dated or lightly edited, is not stored twice.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as feeds:
        feeds.add_column(sa.Column("interval", sa.Float(), nullable=True))
        feeds.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        feeds.add_column(sa.Column("last_success", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sources") as sources:
        sources.add_column(sa.Column("canonical_url", sa.Text(), nullable=True))
        sources.add_column(sa.Column("simhash", sa.BigInteger(), nullable=True))
    op.create_index("ix_sources_canonical_url", "sources", ["canonical_url"])


def downgrade() -> None:
    op.drop_index("ix_sources_canonical_url", table_name="sources")
    with op.batch_alter_table("sources") as sources:
        sources.drop_column("simhash")
        sources.drop_column("canonical_url")
    with op.batch_alter_table("feeds") as feeds:
        feeds.drop_column("last_success")
        feeds.drop_column("failures")
        feeds.drop_column("interval")
