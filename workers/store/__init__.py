"""The article store: SQLAlchemy schema, Alembic migrations and the repository stages use."""

from workers.store.repository import ArticleRecord, ArticleStore, EventRecord, open_store

__all__ = ["ArticleRecord", "ArticleStore", "EventRecord", "open_store"]
