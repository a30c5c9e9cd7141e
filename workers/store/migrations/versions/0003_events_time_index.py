"""an index on events.at, for the dashboard's last-hour reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: on a large PostgreSQL table an operator may have built it beforehand with
    # CREATE INDEX CONCURRENTLY, which does not hold writes (CHANGELOG).
    op.create_index("ix_events_at", "events", ["at"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_events_at", table_name="events", if_exists=True)
