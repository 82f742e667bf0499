"""questions asked, votes on their passages, and what a guild hid from its answers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00

`questions` logs each answer a guild got (with its ranked passages in `answer_hits`)
for `/stats` and for the 👍/👎 buttons, which name a question by its id. `feedback`
keeps one vote per member, question and passage; `hidden` the passages and sources a
guild's admins hid. Votes and hidden items go when their source is removed, and stay
when its content is replaced (the same id, re-inserted), so there are no foreign keys to
sources; those naming a passage then name a text no longer stored and act on nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("guild", sa.String(length=32), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("per_page", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_questions_guild_asked", "questions", ["guild", "asked_at"])
    op.create_index("ix_questions_asked_at", "questions", ["asked_at"])
    op.create_table(
        "answer_hits",
        sa.Column(
            "question_id",
            sa.String(length=16),
            sa.ForeignKey("questions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rank", sa.Integer(), primary_key=True),
        sa.Column("passage_id", sa.BigInteger(), nullable=False),
        # No foreign key: the log is written after the answer, when a source it cites
        # may be gone; /stats joins sources, so a removed one drops out.
        sa.Column("source_id", sa.String(length=16), nullable=False),
    )
    op.create_index("ix_answer_hits_source_id", "answer_hits", ["source_id"])
    op.create_table(
        "feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("guild", sa.String(length=32), nullable=False),
        sa.Column("question_key", sa.String(length=40), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("passage_id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.String(length=16), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("vote", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("guild", "question_key", "passage_id", "user", name="uq_feedback_vote"),
    )
    op.create_index("ix_feedback_guild", "feedback", ["guild"])
    op.create_index("ix_feedback_source_id", "feedback", ["source_id"])
    op.create_table(
        "hidden",
        sa.Column("guild", sa.String(length=32), primary_key=True),
        sa.Column("kind", sa.String(length=8), primary_key=True),
        sa.Column("target", sa.String(length=32), primary_key=True),
        sa.Column("source_id", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=32), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hidden_source_id", "hidden", ["source_id"])


def downgrade() -> None:
    op.drop_index("ix_hidden_source_id", table_name="hidden")
    op.drop_table("hidden")
    op.drop_index("ix_feedback_source_id", table_name="feedback")
    op.drop_index("ix_feedback_guild", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_answer_hits_source_id", table_name="answer_hits")
    op.drop_table("answer_hits")
    op.drop_index("ix_questions_asked_at", table_name="questions")
    op.drop_index("ix_questions_guild_asked", table_name="questions")
    op.drop_table("questions")
