"""Database schema. Changes here need an Alembic revision in workers/store/migrations/versions.

`articles` holds one row per article with its status and every stage's output; `pages` holds the
raw HTML apart (claim check: messages carry the article id, the page stays here); `events` is the
per-article trace, and its terminal rows are the outbox of the article event stream
(workers/events/relay.py); `event_relay` holds how far that stream has been sent; `feeds` holds
the sources and their polling state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The statuses of an article still waiting for a stage (workers.pipeline.PENDING, spelled out:
# the schema must not change when code is refactored). Only these rows are in the due index.
PENDING_SQL = "status IN ('queued', 'fetched', 'cleaned', 'deduplicated')"


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    # The reconciler's question, "which pending articles were due long ago?", reads a partial
    # index that holds the few pending rows, not the millions of finished ones.
    __table_args__ = (
        Index(
            "ix_articles_pending_due",
            "due_at",
            postgresql_where=text(PENDING_SQL),
            sqlite_where=text(PENDING_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text, index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    # queued | fetched | cleaned | deduplicated | stored | duplicate | skipped | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    failed_stage: Mapped[str | None] = mapped_column(String(16))
    # Failed attempts at the stage the article waits for (reset when it moves on): the retry
    # budget lives here, not in a message, so it survives lost and re-sent messages.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the article is due at its next stage: set at every move (now), retry or deferral
    # (later). A pending article long past due with no message anywhere is stranded.
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    lead: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[str | None] = mapped_column(String(40))
    modified_at: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(16))
    canonical_url: Mapped[str | None] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(Text)
    top_image: Mapped[str | None] = mapped_column(Text)
    section: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    word_count: Mapped[int | None] = mapped_column(Integer)
    duplicate_of: Mapped[str | None] = mapped_column(String(32), index=True)
    cluster_id: Mapped[str | None] = mapped_column(String(32), index=True)
    version_of: Mapped[str | None] = mapped_column(String(32))
    dedup_level: Mapped[str | None] = mapped_column(String(8))
    similarity: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(64), index=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(128))
    stage_timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Indexed: the read API pages articles newest first by (created_at, id), which never change.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Page(Base):
    __tablename__ = "pages"

    article_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    final_url: Mapped[str] = mapped_column(Text)
    http_status: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(40))
    html: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_article_at", "article_id", "id"),
        # The dashboard's "last hour" reports (workers/store/reports.py) read a time range.
        Index("ix_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[float | None] = mapped_column(Float)
    queue_wait_ms: Mapped[float | None] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    worker: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # PostgreSQL only: the id of the transaction that inserted the row (a server default,
    # pg_current_xact_id(); NULL on SQLite and for rows older than migration 0003). Event ids come
    # from a sequence and are not in commit order; transaction ids below the oldest running
    # transaction are settled, so the event relay reads in (txid, id) order up to there and never
    # steps over a row that commits later (docs/events.md).
    txid: Mapped[int | None] = mapped_column(BigInteger)


class EventRelay(Base):
    """How far the article event stream has been sent: one row per relay (name), advanced in
    the database after each batch is in Redis, so a crash resends a batch and never skips one."""

    __tablename__ = "event_relay"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The position of the last event row sent: (txid, id) on PostgreSQL, (0, id) on SQLite.
    last_txid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feed(Base):
    __tablename__ = "feeds"

    url: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rss | atom | sitemap | news-sitemap | urls
    interval_s: Mapped[int] = mapped_column(Integer)  # configured base interval
    current_interval_s: Mapped[int] = mapped_column(Integer)  # adaptive interval now in force
    section: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_new_items: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
