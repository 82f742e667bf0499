"""a database id for saved indexes, and change notifications on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00

A saved index names the database it was built from: a restored or swapped database
file must not be searched with another database's index. On PostgreSQL each insert
into `changes` notifies channel `briefbot_changes` at commit, so other processes apply
the change at once instead of polling.
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(length=32), primary_key=True),
        sa.Column("value", sa.String(length=64), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "database_id", "value": uuid.uuid4().hex}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION briefbot_notify_changes() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('briefbot_changes', '');
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER briefbot_changes_notify AFTER INSERT ON changes "
            "FOR EACH STATEMENT EXECUTE FUNCTION briefbot_notify_changes()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS briefbot_changes_notify ON changes")
        op.execute("DROP FUNCTION IF EXISTS briefbot_notify_changes()")
    op.drop_table("meta")
