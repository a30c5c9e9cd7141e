"""Alembic environment: runs on the connection handed over by workers.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from workers.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Workers on several machines may start at once: one migrates, the others wait here.
        connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    context.run_migrations()
