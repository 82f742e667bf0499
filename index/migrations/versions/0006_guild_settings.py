"""per-guild bot settings: where mentions are answered, how, and who manages sources

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

One row per guild that changed anything (`/settings`, `briefbot settings`); a null
column means the bot's default.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guild_settings",
        sa.Column("guild", sa.String(length=32), primary_key=True),
        sa.Column("mention_channels", sa.Text(), nullable=True),
        sa.Column("reply", sa.String(length=8), nullable=True),
        sa.Column("results", sa.Integer(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=True),
        sa.Column("manager_role", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("guild_settings")
