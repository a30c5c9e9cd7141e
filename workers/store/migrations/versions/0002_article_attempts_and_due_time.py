"""article attempts and due time, for retries and the reconciler

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING_SQL = "status IN ('queued', 'fetched', 'cleaned', 'deduplicated')"


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    # Articles pending before this revision are due since their last change.
    op.execute(f"UPDATE articles SET due_at = updated_at WHERE {PENDING_SQL}")  # noqa: S608 - constant
    op.create_index(
        "ix_articles_pending_due",
        "articles",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text(PENDING_SQL),
        sqlite_where=sa.text(PENDING_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_articles_pending_due", table_name="articles")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_column("due_at")
        batch_op.drop_column("attempts")
