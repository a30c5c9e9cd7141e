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
    op.create_index("ix_events_at", "events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_at", table_name="events")
