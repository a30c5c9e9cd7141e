"""ArticleStore: every read and write the pipeline makes to the database, keyed by article id.

Writes are idempotent (an UPDATE of one row, or an insert that tolerates its own repeat) so a
redelivered message can run a stage again without storing anything twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.pipeline import PENDING, Stage, Status, status_before
from workers.store import stage_write
from workers.store.schema import Article, Event
from workers.store.stage_write import Added, IfUnset


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
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    due_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        data["due_at"] = self.due_at.isoformat() if self.due_at else None
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


@dataclass(frozen=True, slots=True)
class StageInput:
    """What one stage of one article starts from, read in one transaction: the article's state
    and, for the stages that need them, its stored page or cleaned text (claim check)."""

    article_id: str
    url: str
    status: str
    attempts: int
    canonical_url: str | None = None
    page: FetchedPage | None = None
    cleaned: CleanedArticle | None = None


@dataclass(frozen=True, slots=True)
class PendingArticle:
    """A pending article as the reconciler sees it."""

    id: str
    status: str
    due_at: datetime


StageOutput = FetchedPage | CleanedArticle | DedupVerdict | Classification


@dataclass(frozen=True, slots=True)
class ArticleQuery:
    """A filtered page of articles (the read API's list): every filter optional."""

    status: str | None = None
    label: str | None = None
    language: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    before: tuple[datetime, str] | None = None  # keyset: (created_at, id) of the last row seen
    limit: int = 50


class ArticleStore:
    """The source of truth for every article: its status moves only forward through the stage
    order, and only from the status the moving stage expects, in one transaction with the
    stage's result and its trace events; so a result is saved once however often a message is
    delivered, and a message lost anywhere leaves the article visibly pending (and recoverable)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # On PostgreSQL a stage's input (one SELECT) and its write (one statement:
        # workers/store/stage_write.py) each run in autocommit: no BEGIN, no COMMIT, no
        # ROLLBACK on return to the pool, one round trip each (benchmarks/store_path.py).
        # SQLite's driver opens no transaction for a read anyway, switching its isolation
        # level would cost a PRAGMA per checkout, and its write is several statements.
        self._one_statement_write = engine.dialect.name == "postgresql"
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._one_statement_write
            else engine
        )

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction on a plain connection, for the writes every stage of every article
        makes on SQLite (PostgreSQL's is one statement in autocommit: `_move`): an ORM
        session (its identity map, unit of work and flush) costs more than these few Core
        statements themselves (docs/performance.md)."""
        with self.engine.begin() as conn:
            yield conn

    # --- creating articles ----------------------------------------------------------------------
    def create_article(self, url: str, source: str = "", article_id: str | None = None) -> str:
        """Insert a queued article (an existing one with this id is left alone); return its id."""
        article_id = article_id or new_article_id()
        self.create_articles([(article_id, url)], source)
        return article_id

    def create_articles(self, items: Sequence[tuple[str, str]], source: str = "") -> None:
        """Insert queued articles (id, url) in one transaction; ids already present are kept."""
        if not items:
            return
        now = utcnow()
        with self._session() as s:
            present = set(
                s.scalars(select(Article.id).where(Article.id.in_([i for i, _ in items])))
            )
            rows = [
                {
                    "id": article_id,
                    "url": url,
                    "source": source,
                    "status": Status.QUEUED.value,
                    "authors": [],
                    "tags": [],
                    "stage_timings": {},
                    "attempts": 0,
                    "due_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for article_id, url in items
                if article_id not in present
            ]
            if rows:
                s.execute(insert(Article), rows)

    def delete_queued(self, article_ids: Sequence[str]) -> int:
        """Remove articles that never left `queued` (a URL another crawler claimed first)."""
        if not article_ids:
            return 0
        with self._session() as s:
            result = s.execute(
                delete(Article).where(
                    Article.id.in_(list(article_ids)), Article.status == Status.QUEUED.value
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # --- what a stage starts from ---------------------------------------------------------------
    def load_input(self, article_id: str, stage: Stage) -> StageInput | None:
        """The article as `stage` needs it (one read), or None when unknown. A Core query of
        just the columns the stage uses, not an ORM load of the whole row: it runs once per
        stage of every article, and the ORM's identity map and object set-up cost more than
        the read (docs/performance.md)."""
        with self._autocommit.connect() as conn:
            row = conn.execute(_input_query(stage), {"_article_id": article_id}).one_or_none()
        return None if row is None else _stage_input(row, stage)

    def load_inputs(self, article_ids: Sequence[str], stage: Stage) -> dict[str, StageInput]:
        """What `load_input` gives, for the articles of one batch message in one read. An
        article missing from the answer is read alone by the caller (unknown, or its input
        is not whole): this read only saves round trips, it decides nothing."""
        with self._autocommit.connect() as conn:
            rows = conn.execute(_input_query(stage, many=True), {"_article_ids": list(article_ids)})
            found: dict[str, StageInput] = {}
            for row in rows:
                with suppress(LookupError):
                    found[row.id] = _stage_input(row, stage)
        return found

    # --- moving an article on -------------------------------------------------------------------
    def complete_stage(
        self,
        article_id: str,
        stage: Stage,
        output: StageOutput,
        status: Status,
        events: Sequence[EventRecord],
    ) -> bool:
        """Save `stage`'s output, move the article to `status` and record `events`, in one
        transaction; only while the article still waits for `stage`. False when it no longer
        does (another delivery finished it first): nothing is written then."""
        now = utcnow()
        values: dict[str, Any] = {
            "status": status.value,
            "attempts": 0,
            "due_at": now,
            "updated_at": now,
            **_output_columns(output),
        }
        if isinstance(output, DedupVerdict) and output.is_duplicate:
            values["status_reason"] = f"duplicate of {output.duplicate_of} ({output.level})"
        else:
            values["status_reason"] = None
        page = None
        if isinstance(output, FetchedPage):
            page = {
                "final_url": output.final_url,
                "http_status": output.status,
                "content_type": output.content_type,
                "encoding": output.encoding,
                "html": output.html,
                "fetched_at": output.fetched_at,
            }
        return self._move(article_id, stage, values, events, page)

    def record_retry(
        self,
        article_id: str,
        stage: Stage,
        reason: str,
        due_at: datetime,
        events: Sequence[EventRecord],
    ) -> bool:
        """Count one failed attempt at `stage` and set when to try again (the article stays
        where it is); False when the article no longer waits for `stage`."""
        values = {
            "attempts": Added(1),
            "due_at": due_at,
            "status_reason": reason[:1000],
            "updated_at": utcnow(),
        }
        return self._move(article_id, stage, values, events)

    def record_deferral(
        self, article_id: str, stage: Stage, due_at: datetime, events: Sequence[EventRecord]
    ) -> bool:
        """The article waits for `stage` until `due_at`, no attempt spent (a polite host's turn,
        our own database or Redis away); False when it no longer waits for `stage`."""
        return self._move(article_id, stage, {"due_at": due_at}, events)

    def finish(
        self,
        article_id: str,
        stage: Stage,
        status: Status,
        reason: str,
        events: Sequence[EventRecord],
    ) -> bool:
        """End the article at `stage` as skipped or failed (quarantined, replayable) with
        `reason`; False when it no longer waits for `stage`."""
        if status not in (Status.SKIPPED, Status.FAILED):
            raise ValueError(f"finish() ends an article as skipped or failed, not {status}")
        now = utcnow()
        values = {
            "status": status.value,
            "status_reason": reason[:1000],
            "failed_stage": stage.value,
            "due_at": None,
            "updated_at": now,
        }
        return self._move(article_id, stage, values, events)

    def mark_failed(self, article_id: str, stage: Stage, reason: str) -> None:
        """Quarantine an article whatever it waits for (an unusable URL at ingest), with its
        `article_failed` event in the same transaction (every end has its event)."""
        now = utcnow()
        with self._session() as s:
            result = s.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(
                    status=Status.FAILED.value,
                    status_reason=reason[:1000],
                    failed_stage=stage.value,
                    due_at=None,
                    updated_at=now,
                )
            )
            if _rowcount(result) == 1:
                failed = EventRecord(
                    article_id=article_id,
                    event="article_failed",  # workers.tracing.FAILED
                    stage=stage.value,
                    outcome="quarantined",
                    at=now,
                    detail={"reason": reason[:1000]},
                )
                self._add_events(s.connection(), [failed])

    def reset_for_replay(self, article_id: str, from_status: Status) -> Stage | None:
        """Put a failed or skipped article back in front of the stage it stopped at, with a
        fresh retry budget; returns that stage, or None when the article is not `from_status`."""
        with self._session() as s:
            row = s.get(Article, article_id)
            if row is None or row.status != from_status.value:
                return None
            stage = Stage(row.failed_stage or Stage.FETCH.value)
            now = utcnow()
            result = s.execute(
                update(Article)
                .where(Article.id == article_id, Article.status == from_status.value)
                .values(
                    status=status_before(stage).value,
                    status_reason=None,
                    failed_stage=None,
                    attempts=0,
                    due_at=now,
                    updated_at=now,
                )
            )
            return stage if _rowcount(result) == 1 else None

    def add_event(self, record: EventRecord) -> None:
        with self._write() as conn:
            self._add_events(conn, [record])

    # --- the reconciler's view ------------------------------------------------------------------
    def pending_due_before(
        self, cutoff: datetime, limit: int = 1000, after: tuple[datetime, str] | None = None
    ) -> list[PendingArticle]:
        """Pending articles due before `cutoff`, oldest first (keyset-paged by `after`)."""
        with self._session() as s:
            query = (
                select(Article.id, Article.status, Article.due_at)
                .where(Article.status.in_([p.value for p in PENDING]), Article.due_at < cutoff)
                .order_by(Article.due_at, Article.id)
                .limit(limit)
            )
            if after is not None:
                due, last_id = after
                query = query.where(
                    or_(Article.due_at > due, and_(Article.due_at == due, Article.id > last_id))
                )
            return [
                PendingArticle(id=i, status=st, due_at=_aware(d) or utcnow())
                for i, st, d in s.execute(query)
            ]

    def mark_resent(self, resent: Sequence[tuple[str, str]], events: Sequence[EventRecord]) -> int:
        """Record that pending articles (id, status) were sent to their stage again: due now.
        Only those still in that status are touched; returns how many."""
        if not resent:
            return 0
        now = utcnow()
        moved = 0
        with self._session() as s:
            for article_id, status in resent:
                result = s.execute(
                    update(Article)
                    .where(Article.id == article_id, Article.status == status)
                    .values(due_at=now)
                )
                moved += _rowcount(result)
            self._add_events(s.connection(), events)
        return moved

    def pending_summary(self) -> dict[str, tuple[int, datetime | None]]:
        """Per pending status: how many articles, and the earliest due time among them."""
        with self._session() as s:
            rows = s.execute(
                select(Article.status, func.count(), func.min(Article.due_at))
                .where(Article.status.in_([p.value for p in PENDING]))
                .group_by(Article.status)
            )
            return {status: (int(count), _aware(oldest)) for status, count, oldest in rows}

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

    def urls_recorded_since(self, urls: Sequence[str], since: datetime) -> set[str]:
        """Which of `urls` (canonical) have an article created at or after `since`."""
        if not urls:
            return set()
        with self._session() as s:
            rows = s.scalars(
                select(Article.url).where(Article.url.in_(list(urls)), Article.created_at >= since)
            )
            return set(rows)

    def existing_ids(self, article_ids: Sequence[str]) -> set[str]:
        """Which of `article_ids` are in the store."""
        if not article_ids:
            return set()
        with self._session() as s:
            return set(s.scalars(select(Article.id).where(Article.id.in_(list(article_ids)))))

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
                .where(Article.status == Status.STORED.value)
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

    def browse(self, query: ArticleQuery) -> list[ArticleRecord]:
        """Articles matching `query`, newest created first, keyset-paged by (created_at, id):
        a page never repeats or skips a row, however the store changes between pages."""
        with self._session() as s:
            stmt = select(Article).order_by(Article.created_at.desc(), Article.id.desc())
            if query.status:
                stmt = stmt.where(Article.status == query.status)
            if query.label:
                stmt = stmt.where(Article.label == query.label)
            if query.language:
                stmt = stmt.where(Article.language == query.language)
            if query.since:
                stmt = stmt.where(Article.created_at >= query.since)
            if query.until:
                stmt = stmt.where(Article.created_at < query.until)
            if query.before:
                created, article_id = query.before
                stmt = stmt.where(
                    or_(
                        Article.created_at < created,
                        and_(Article.created_at == created, Article.id < article_id),
                    )
                )
            return [_record(r) for r in s.scalars(stmt.limit(query.limit))]

    # --- helpers --------------------------------------------------------------------------------
    def _move(
        self,
        article_id: str,
        stage: Stage,
        values: dict[str, Any],
        events: Sequence[EventRecord],
        page: dict[str, Any] | None = None,
    ) -> bool:
        """Set `values` on the article (status, results, due time) only while it waits for
        `stage`, and with that move store `page` (a fetch's) and record `events`, all or
        nothing; False, and nothing written, when it no longer waits for `stage`.

        PostgreSQL: one statement in autocommit. SQLite: one transaction whose first statement
        is the UPDATE, so SQLite takes its write lock (waiting its busy timeout) instead of
        failing to upgrade a read snapshot. Core statements built once per shape
        (workers/store/stage_write.py), not the ORM: they run once per stage of every article."""
        before = status_before(stage).value
        rows = [_event_row(e) for e in events]
        if self._one_statement_write:
            statement, params = stage_write.move_and_record(values, article_id, before, page, rows)
            with self._autocommit.connect() as conn:
                return int(conn.execute(statement, params).scalar_one()) == 1
        with self._write() as conn:
            update_, params = stage_write.move(values, article_id, before)
            if _rowcount(conn.execute(update_, params)) != 1:
                return False
            if page is not None:
                conn.execute(stage_write.DELETE_PAGE, {"_article_id": article_id})
                conn.execute(stage_write.INSERT_PAGE, {"article_id": article_id, **page})
            if rows:
                conn.execute(stage_write.INSERT_EVENT, rows)
            return True

    @staticmethod
    def _add_events(conn: Connection, events: Sequence[EventRecord]) -> None:
        if events:
            conn.execute(stage_write.INSERT_EVENT, [_event_row(e) for e in events])


# The tables behind the ORM classes, for the Core statements of the per-stage read.
_ARTICLES = stage_write.ARTICLES
_PAGES = stage_write.PAGES
_PAGE_COLUMNS = stage_write.PAGE_COLUMNS
_CLEANED_COLUMNS = (
    "title", "text", "lead", "authors", "published_at", "modified_at", "language",
    "site_name", "top_image", "section", "tags",
)  # fmt: skip


@lru_cache(maxsize=16)
def _input_query(stage: Stage, many: bool = False) -> Select[Any]:
    """SELECT the columns `stage` starts from (its page for clean, the cleaned text for dedup
    and classify) WHERE id = :_article_id, or id IN :_article_ids (`many`); built once each."""
    a = _ARTICLES
    columns = [a.c.id, a.c.url, a.c.status, a.c.attempts, a.c.canonical_url]
    if stage in (Stage.DEDUP, Stage.CLASSIFY):
        columns += [a.c[name] for name in _CLEANED_COLUMNS]
    query = select(*columns)
    if stage is Stage.CLEAN:
        p = _PAGES
        query = select(
            *columns, *(p.c[name].label(f"page_{name}") for name in _PAGE_COLUMNS)
        ).select_from(a.outerjoin(p, p.c.article_id == a.c.id))
    if many:
        return query.where(a.c.id.in_(bindparam("_article_ids", expanding=True)))
    return query.where(a.c.id == bindparam("_article_id"))


def _stage_input(row: Any, stage: Stage) -> StageInput:
    """A row of `_input_query(stage)` as the stage's input. LookupError: an article waiting
    for the clean stage has no stored page."""
    page = None
    cleaned = None
    waiting = row.status == status_before(stage).value
    if waiting and stage is Stage.CLEAN:
        if row.page_html is None:
            raise LookupError(f"article {row.id} has no stored page")
        page = FetchedPage(
            url=row.url,
            final_url=row.page_final_url,
            status=row.page_http_status,
            content_type=row.page_content_type,
            encoding=row.page_encoding,
            html=row.page_html,
            fetched_at=_aware(row.page_fetched_at) or utcnow(),
        )
    elif waiting and stage in (Stage.DEDUP, Stage.CLASSIFY):
        cleaned = _cleaned(row)
    return StageInput(
        article_id=row.id,
        url=row.url,
        status=row.status,
        attempts=row.attempts or 0,
        canonical_url=row.canonical_url,
        page=page,
        cleaned=cleaned,
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _event_row(record: EventRecord) -> dict[str, Any]:
    return {
        "article_id": record.article_id,
        "event": record.event,
        "stage": record.stage,
        "outcome": record.outcome,
        "duration_ms": record.duration_ms,
        "queue_wait_ms": record.queue_wait_ms,
        "attempt": record.attempt,
        "worker": record.worker,
        "detail": record.detail,
        "at": record.at,
    }


def _output_columns(output: StageOutput) -> dict[str, Any]:
    """The article columns a stage's output fills in."""
    if isinstance(output, FetchedPage):
        return {"final_url": output.final_url}
    if isinstance(output, CleanedArticle):
        return {
            "title": output.title,
            "text": output.text,
            "lead": output.lead,
            "authors": list(output.authors),
            "published_at": output.published_at,
            "modified_at": output.modified_at,
            "language": output.language,
            "canonical_url": output.canonical_url,
            "site_name": output.site_name,
            "top_image": output.top_image,
            "section": output.section,
            "tags": list(output.tags),
            "word_count": output.word_count,
        }
    if isinstance(output, DedupVerdict):
        return {
            "cluster_id": output.cluster_id,
            "duplicate_of": output.duplicate_of,
            "version_of": output.version_of,
            "dedup_level": output.level,
            "similarity": output.similarity,
        }
    columns: dict[str, Any] = {
        "label": output.label,
        "confidence": output.confidence,
        "model_version": output.model_version,
    }
    if output.language:
        # The clean stage's language wins; classify fills it in only where clean found none.
        columns["language"] = IfUnset(output.language)
    return columns


def _cleaned(row: Any) -> CleanedArticle:
    """The cleaned article from a row of the `_CLEANED_COLUMNS` (and id)."""
    if row.text is None or row.title is None:
        raise LookupError(f"article {row.id} has not been cleaned")
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
        created_at=_aware(row.created_at) or utcnow(),
        updated_at=_aware(row.updated_at) or utcnow(),
        attempts=row.attempts or 0,
        due_at=_aware(row.due_at),
    )


def _sqlite_in_memory(database_url: str) -> bool:
    url = make_url(database_url)
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def make_engine(database_url: str, threads: int = 1) -> Engine:
    """An engine tuned for many worker processes sharing one database. `threads`: how many of
    this process's threads may use it at once; the pool keeps that many connections open
    (at least 5). A smaller pool hands the rest "overflow" connections that it closes on
    return: a threaded fetch worker (16 threads) opened a PostgreSQL connection, a server
    process forked and warmed, for about every message it ran (benchmarks/pipeline.py)."""
    pool_size = max(5, threads)
    if database_url.startswith("sqlite"):
        # An in-memory database lives in one connection per thread (SQLAlchemy's
        # SingletonThreadPool), which takes no pool sizes; a file database gets a QueuePool.
        sizes: dict[str, int] = {}
        if not _sqlite_in_memory(database_url):
            sizes = {"pool_size": pool_size, "max_overflow": 5}
        engine = create_engine(database_url, connect_args={"timeout": 30}, **sizes)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers (status, trace) run while workers write; the busy timeout makes
            # concurrent writers from several processes wait for the lock instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit (an fsync per stage
            # was a tenth of a worker's time). An application crash loses nothing; a power cut
            # may roll back the last commits, leaving articles pending an earlier stage, which
            # the reconciler resends like any stranded article.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip on every checkout (once per stage). A connection the
    # server dropped fails its first statement instead; SQLAlchemy then discards the whole pool
    # and the runner defers that delivery as an infrastructure wait (never a retry).
    return create_engine(database_url, pool_size=pool_size, max_overflow=5)


def open_store(database_url: str, migrate_schema: bool = True, threads: int = 1) -> ArticleStore:
    """Connect to the store, bringing its schema to the newest revision first; `threads` as
    for `make_engine`."""
    engine = make_engine(database_url, threads)
    if migrate_schema:
        from workers.store import migrate

        migrate.upgrade(engine)
    return ArticleStore(engine)
