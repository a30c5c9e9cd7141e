"""ArticleStore: every read and write the pipeline makes to the database, keyed by article id.

Writes are idempotent (an UPDATE of one row, or an insert that tolerates its own repeat) so a
redelivered message can run a stage again without storing anything twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.store import migrate
from workers.store.schema import Article, Event, Page


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we write is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """One stored article as operators and the CLI see it."""

    id: str
    url: str
    source: str
    status: str
    status_reason: str | None
    failed_stage: str | None
    title: str | None
    text: str | None
    lead: str | None
    authors: list[str]
    published_at: str | None
    language: str | None
    canonical_url: str | None
    site_name: str | None
    section: str | None
    tags: list[str]
    word_count: int | None
    duplicate_of: str | None
    cluster_id: str | None
    version_of: str | None
    label: str | None
    confidence: float | None
    model_version: str | None
    stage_timings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stage event of one article: the unit of a trace."""

    article_id: str
    event: str
    stage: str
    outcome: str
    at: datetime
    duration_ms: float | None = None
    queue_wait_ms: float | None = None
    attempt: int = 1
    worker: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def new_article_id() -> str:
    return uuid.uuid4().hex


class ArticleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # --- writes ---------------------------------------------------------------------------------
    def create_article(self, url: str, source: str = "", article_id: str | None = None) -> str:
        """Insert a queued article (an existing one with this id is left alone); return its id."""
        article_id = article_id or new_article_id()
        now = utcnow()
        with self._session() as s:
            if s.get(Article, article_id) is None:
                s.add(
                    Article(
                        id=article_id,
                        url=url,
                        source=source,
                        status="queued",
                        authors=[],
                        tags=[],
                        stage_timings={},
                        created_at=now,
                        updated_at=now,
                    )
                )
        return article_id

    def save_page(self, article_id: str, page: FetchedPage, duration_ms: float) -> None:
        with self._session() as s:
            row = self._row(s, article_id)
            existing = s.get(Page, article_id)
            if existing is None:
                existing = Page(article_id=article_id)
                s.add(existing)
            existing.final_url = page.final_url
            existing.http_status = page.status
            existing.content_type = page.content_type
            existing.encoding = page.encoding
            existing.html = page.html
            existing.fetched_at = page.fetched_at
            row.final_url = page.final_url
            self._advance(row, "fetched", "fetch", duration_ms)

    def load_page(self, article_id: str) -> FetchedPage:
        with self._session() as s:
            row = self._row(s, article_id)
            page = s.get(Page, article_id)
            if page is None:
                raise LookupError(f"article {article_id} has no stored page")
            return FetchedPage(
                url=row.url,
                final_url=page.final_url,
                status=page.http_status,
                content_type=page.content_type,
                encoding=page.encoding,
                html=page.html,
                fetched_at=_aware(page.fetched_at) or utcnow(),
            )

    def save_cleaned(self, article_id: str, article: CleanedArticle, duration_ms: float) -> None:
        with self._session() as s:
            row = self._row(s, article_id)
            row.title = article.title
            row.text = article.text
            row.lead = article.lead
            row.authors = list(article.authors)
            row.published_at = article.published_at
            row.modified_at = article.modified_at
            row.language = article.language
            row.canonical_url = article.canonical_url
            row.site_name = article.site_name
            row.top_image = article.top_image
            row.section = article.section
            row.tags = list(article.tags)
            row.word_count = article.word_count
            self._advance(row, "cleaned", "clean", duration_ms)

    def load_cleaned(self, article_id: str) -> CleanedArticle:
        with self._session() as s:
            row = self._row(s, article_id)
            if row.text is None or row.title is None:
                raise LookupError(f"article {article_id} has not been cleaned")
            return CleanedArticle(
                title=row.title,
                text=row.text,
                lead=row.lead,
                authors=tuple(row.authors or ()),
                published_at=row.published_at,
                modified_at=row.modified_at,
                language=row.language,
                canonical_url=row.canonical_url,
                site_name=row.site_name,
                top_image=row.top_image,
                section=row.section,
                tags=tuple(row.tags or ()),
            )

    def save_verdict(self, article_id: str, verdict: DedupVerdict, duration_ms: float) -> None:
        with self._session() as s:
            row = self._row(s, article_id)
            row.cluster_id = verdict.cluster_id
            row.duplicate_of = verdict.duplicate_of
            row.version_of = verdict.version_of
            row.dedup_level = verdict.level
            row.similarity = verdict.similarity
            if verdict.is_duplicate:
                row.status_reason = f"duplicate of {verdict.duplicate_of} ({verdict.level})"
            self._advance(
                row, "duplicate" if verdict.is_duplicate else "deduplicated", "dedup", duration_ms
            )

    def save_classification(
        self, article_id: str, result: Classification, duration_ms: float
    ) -> None:
        with self._session() as s:
            row = self._row(s, article_id)
            row.label = result.label
            row.confidence = result.confidence
            row.model_version = result.model_version
            if result.language and not row.language:
                row.language = result.language
            self._advance(row, "stored", "classify", duration_ms)

    def mark_skipped(self, article_id: str, stage: str, reason: str) -> None:
        with self._session() as s:
            row = self._row(s, article_id)
            row.status_reason = reason
            row.failed_stage = stage
            self._advance(row, "skipped", None, None)

    def mark_failed(self, article_id: str, stage: str, reason: str) -> None:
        """Quarantine: the article stays failed at `stage` with `reason` until replayed."""
        with self._session() as s:
            row = self._row(s, article_id)
            row.status_reason = reason
            row.failed_stage = stage
            self._advance(row, "failed", None, None)

    def reset_for_replay(self, article_id: str, status: str) -> str:
        """Put a quarantined/skipped article back to `status`; returns the stage it failed at."""
        with self._session() as s:
            row = self._row(s, article_id)
            stage = row.failed_stage or "fetch"
            row.failed_stage = None
            row.status_reason = None
            self._advance(row, status, None, None)
            return stage

    def add_event(self, record: EventRecord) -> None:
        with self._session() as s:
            s.add(
                Event(
                    article_id=record.article_id,
                    event=record.event,
                    stage=record.stage,
                    outcome=record.outcome,
                    duration_ms=record.duration_ms,
                    queue_wait_ms=record.queue_wait_ms,
                    attempt=record.attempt,
                    worker=record.worker,
                    detail=record.detail,
                    at=record.at,
                )
            )

    # --- reads ----------------------------------------------------------------------------------
    def get(self, article_id: str) -> ArticleRecord | None:
        with self._session() as s:
            row = s.get(Article, article_id)
            return None if row is None else _record(row)

    def find(self, id_or_url: str) -> list[ArticleRecord]:
        """Articles whose id, URL, final URL or canonical URL is `id_or_url`, oldest first."""
        with self._session() as s:
            rows = s.scalars(
                select(Article)
                .where(
                    or_(
                        Article.id == id_or_url,
                        Article.url == id_or_url,
                        Article.final_url == id_or_url,
                        Article.canonical_url == id_or_url,
                    )
                )
                .order_by(Article.created_at)
            )
            return [_record(r) for r in rows]

    def status_of(self, article_id: str) -> str | None:
        with self._session() as s:
            return s.scalar(select(Article.status).where(Article.id == article_id))

    def events(self, article_id: str) -> list[EventRecord]:
        with self._session() as s:
            rows = s.scalars(select(Event).where(Event.article_id == article_id).order_by(Event.id))
            return [
                EventRecord(
                    article_id=e.article_id,
                    event=e.event,
                    stage=e.stage,
                    outcome=e.outcome,
                    at=_aware(e.at) or utcnow(),
                    duration_ms=e.duration_ms,
                    queue_wait_ms=e.queue_wait_ms,
                    attempt=e.attempt,
                    worker=e.worker,
                    detail=e.detail or {},
                )
                for e in rows
            ]

    def counts_by_status(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(Article.status, func.count()).group_by(Article.status))
            return {status: count for status, count in rows}

    def counts_by_label(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(
                select(Article.label, func.count())
                .where(Article.status == "stored")
                .group_by(Article.label)
            )
            return {label or "": count for label, count in rows}

    def list_articles(
        self, status: str | None = None, limit: int = 50, source: str | None = None
    ) -> list[ArticleRecord]:
        with self._session() as s:
            query = select(Article).order_by(Article.updated_at.desc()).limit(limit)
            if status:
                query = query.where(Article.status == status)
            if source:
                query = query.where(Article.source == source)
            return [_record(r) for r in s.scalars(query)]

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _row(s: Session, article_id: str) -> Article:
        row = s.get(Article, article_id)
        if row is None:
            raise LookupError(f"no article with id {article_id}")
        return row

    @staticmethod
    def _advance(row: Article, status: str, stage: str | None, duration_ms: float | None) -> None:
        row.status = status
        row.updated_at = utcnow()
        if stage is not None and duration_ms is not None:
            # Reassign (not mutate) so SQLAlchemy sees the JSON column change.
            row.stage_timings = {**(row.stage_timings or {}), stage: round(duration_ms, 2)}


def _record(row: Article) -> ArticleRecord:
    return ArticleRecord(
        id=row.id,
        url=row.url,
        source=row.source,
        status=row.status,
        status_reason=row.status_reason,
        failed_stage=row.failed_stage,
        title=row.title,
        text=row.text,
        lead=row.lead,
        authors=list(row.authors or []),
        published_at=row.published_at,
        language=row.language,
        canonical_url=row.canonical_url,
        site_name=row.site_name,
        section=row.section,
        tags=list(row.tags or []),
        word_count=row.word_count,
        duplicate_of=row.duplicate_of,
        cluster_id=row.cluster_id,
        version_of=row.version_of,
        label=row.label,
        confidence=row.confidence,
        model_version=row.model_version,
        stage_timings=dict(row.stage_timings or {}),
        created_at=_aware(row.created_at) or utcnow(),
        updated_at=_aware(row.updated_at) or utcnow(),
    )


def make_engine(database_url: str) -> Engine:
    """An engine tuned for many worker processes sharing one database."""
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers (status, trace) run while workers write; the busy timeout makes
            # concurrent writers from several processes wait for the lock instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def open_store(database_url: str, migrate_schema: bool = True) -> ArticleStore:
    """Connect to the store, bringing its schema to the newest revision first."""
    engine = make_engine(database_url)
    if migrate_schema:
        migrate.upgrade(engine)
    return ArticleStore(engine)
