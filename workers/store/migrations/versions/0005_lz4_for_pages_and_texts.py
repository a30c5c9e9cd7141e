"""lz4 for the large text columns on PostgreSQL: a page's HTML and an article's text

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 18:00:00

PostgreSQL compresses a value over ~2 KB before storing it, with pglz unless told otherwise.
For the pages of the dev set (~180 KB of HTML on average) pglz costs the server ~6 ms of CPU
per page (~36 MB/s here), more than the fetch stage's own work; lz4 stores them in the same space
(33 vs 32 MB for 510 pages) in a fifth of the time and reads them back faster
(docs/performance.md, round six). Only values written from now on use lz4; older ones stay
pglz and read as before. A server built without lz4 (or older than 14) keeps pglz: nothing
here fails there. SQLite does not compress, and is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (("pages", "html"), ("articles", "text"))


def lz4_available(bind: sa.engine.Connection) -> bool:
    """Whether this server can compress with lz4 (PostgreSQL 14+ built --with-lz4)."""
    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    ).first()
    return bool(row and row[0])


def upgrade() -> None:
    if not lz4_available(op.get_bind()):
        return
    for table, column in COLUMNS:
        # A catalog change: no rewrite, the existing values keep the method they were written with.
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if not lz4_available(op.get_bind()):
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION DEFAULT")
