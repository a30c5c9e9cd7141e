"""Per-article stage events: one structlog JSON line, one trace row, one metrics tick per event.

Event names are snake_case past tense (`article_fetched`, `article_failed`, ...). The same facts
go to the `events` table (for `newsflow trace`; written by the store with the stage's result),
the log stream (for log pipelines) and the Redis counters behind `newsflow status` and the
Prometheus exporter.
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


class Metrics:
    """Counters shared by every worker on every machine (Redis hashes), read by the exporter."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._redis = client
        self._key = f"{prefix}:metrics"

    def record(
        self, stage: str, outcome: str, duration_ms: float | None, wait_ms: float | None
    ) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(f"{self._key}:events", f"{stage}|{outcome}", 1)
        if duration_ms is not None:
            pipe.hincrbyfloat(f"{self._key}:duration_ms_sum", stage, duration_ms)
            pipe.hincrby(f"{self._key}:duration_count", stage, 1)
        if wait_ms is not None:
            pipe.hincrbyfloat(f"{self._key}:queue_wait_ms_sum", stage, wait_ms)
        pipe.execute()

    def count_recovered(self, stage: str, n: int) -> None:
        """Stranded articles the reconciler sent to `stage` again."""
        self._redis.hincrby(f"{self._key}:recovered", stage, n)

    def snapshot(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        names = ("events", "duration_ms_sum", "duration_count", "queue_wait_ms_sum", "recovered")
        for name in names:
            raw = self._redis.hgetall(f"{self._key}:{name}")
            out[name] = {k.decode(): float(v) for k, v in raw.items()}
        return out


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
    transaction as the stage's result), writes them to the log and the shared counters."""

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics

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

    def emit(self, ctx: StageContext, records: list[EventRecord], level: str = "info") -> None:
        for record in records:
            getattr(log, level)(
                record.event,
                article_id=record.article_id,
                url=ctx.url,
                stage=record.stage,
                outcome=record.outcome,
                duration_ms=record.duration_ms,
                queue_wait_ms=record.queue_wait_ms,
                attempt=record.attempt,
                worker=record.worker,
                detail=record.detail,
            )
            if self._metrics is not None:
                self._metrics.record(
                    record.stage, record.outcome, record.duration_ms, record.queue_wait_ms
                )


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
