"""The article store: SQLAlchemy schema, Alembic migrations and the repository stages use."""

from workers.store.repository import (
    ArticleRecord,
    ArticleStore,
    EventRecord,
    PendingArticle,
    StageInput,
    open_store,
)

__all__ = [
    "ArticleRecord",
    "ArticleStore",
    "EventRecord",
    "PendingArticle",
    "StageInput",
    "open_store",
]
