"""Per-article stage events: one row in the `events` table and one structlog JSON line each.

Event names are snake_case past tense (`article_fetched`, `article_failed`, ...). The row is
written by the store in the same transaction as the stage's result; it feeds `newsflow trace`,
and the metrics (`workers.event_stats`, read from the table at scrape time: no write per event
besides the row). The log line carries the same facts for log pipelines; its schema is in
docs/logging.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from workers.store import EventRecord
from workers.store.repository import utcnow

log = structlog.get_logger("newsflow.trace")

# The event each stage emits on success; failures share the names below.
STAGE_EVENTS = {
    "crawl": "feed_crawled",
    "fetch": "article_fetched",
    "clean": "article_cleaned",
    "dedup": "article_deduplicated",
    "classify": "article_classified",
}
STORED = "article_stored"
SKIPPED = "article_skipped"
RETRYING = "article_retrying"
DEFERRED = "article_deferred"  # waits for its host's turn: not a failure, no retry spent
FAILED = "article_failed"  # quarantined
RECOVERED = "article_recovered"  # found stranded by the reconciler and sent again


@dataclass(frozen=True, slots=True)
class StageContext:
    """Facts about the delivery that every event of this task carries."""

    article_id: str
    url: str
    stage: str
    attempt: int
    worker: str
    queue_wait_ms: float | None


class Tracer:
    """Builds the events of a delivery, and once the store has saved them (in the same
    transaction as the stage's result), writes them to the log."""

    @staticmethod
    def event(
        name: str,
        ctx: StageContext,
        outcome: str,
        duration_ms: float | None = None,
        *,
        detail: dict[str, Any] | None = None,
        with_queue_wait: bool = True,
    ) -> EventRecord:
        """One event of this delivery. Only the first event of a delivery carries its queue
        wait (`with_queue_wait=False` for the rest), so the wait is counted once."""
        waited = ctx.queue_wait_ms if with_queue_wait else None
        return EventRecord(
            article_id=ctx.article_id,
            event=name,
            stage=ctx.stage,
            outcome=outcome,
            at=utcnow(),
            duration_ms=None if duration_ms is None else round(duration_ms, 2),
            queue_wait_ms=None if waited is None else round(waited, 2),
            attempt=ctx.attempt,
            worker=ctx.worker,
            detail={k: v for k, v in (detail or {}).items() if _jsonable(v)},
        )

    @staticmethod
    def emit(ctx: StageContext, records: list[EventRecord], level: str = "info") -> None:
        for record in records:
            log_event(record, ctx.url, level)


def log_event(record: EventRecord, url: str | None, level: str = "info") -> None:
    """The log line of one stage event: the schema of docs/logging.md (its row's columns, with
    the article's URL where the emitter knows it)."""
    getattr(log, level)(
        record.event,
        article_id=record.article_id,
        url=url,
        stage=record.stage,
        outcome=record.outcome,
        duration_ms=record.duration_ms,
        queue_wait_ms=record.queue_wait_ms,
        attempt=record.attempt,
        worker=record.worker,
        detail=record.detail,
    )


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
