"""event relay: the stream cursor, events' transaction ids, articles by creation time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("txid", sa.BigInteger(), nullable=True))
    if postgres:
        # Set after the column exists, so rows already there keep NULL (no table rewrite); every
        # new row records the transaction that inserted it (docs/events.md: ordering).
        op.execute(
            "ALTER TABLE events ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint"
        )
        op.create_index("ix_events_txid_id", "events", ["txid", "id"], unique=False)
    op.create_table(
        "event_relay",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_txid", sa.BigInteger(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # The stream starts with what happens from now on: events already in the store are not sent
    # (`newsflow events replay --since` sends them on purpose). This transaction's own id is the
    # floor on PostgreSQL: every later event row is inserted by a later transaction.
    txid = "pg_current_xact_id()::text::bigint" if postgres else "0"
    op.execute(
        "INSERT INTO event_relay (name, last_txid, last_event_id, updated_at) "  # noqa: S608 - constants
        f"SELECT 'stream', {txid}, COALESCE(MAX(id), 0), CURRENT_TIMESTAMP FROM events"
    )
    op.create_index("ix_articles_created_at", "articles", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_articles_created_at", table_name="articles")
    op.drop_table("event_relay")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_events_txid_id", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("txid")
