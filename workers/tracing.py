"""Per-article stage events: one structlog JSON line, one trace row, one metrics tick per event.

Event names are snake_case past tense (`article_fetched`, `article_failed`, ...). The same facts
go to the log stream (for log pipelines), the `events` table (for `newsflow trace`) and the Redis
counters behind `newsflow status` and the Prometheus exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from workers.store import ArticleStore, EventRecord
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
FAILED = "article_failed"  # quarantined


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

    def snapshot(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name in ("events", "duration_ms_sum", "duration_count", "queue_wait_ms_sum"):
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
    def __init__(self, store: ArticleStore, metrics: Metrics | None) -> None:
        self._store = store
        self._metrics = metrics

    def emit(
        self,
        event: str,
        ctx: StageContext,
        outcome: str,
        duration_ms: float | None = None,
        *,
        log_level: str = "info",
        detail: dict[str, Any] | None = None,
    ) -> None:
        detail = detail or {}
        took = None if duration_ms is None else round(duration_ms, 2)
        waited = None if ctx.queue_wait_ms is None else round(ctx.queue_wait_ms, 2)
        getattr(log, log_level)(
            event,
            article_id=ctx.article_id,
            url=ctx.url,
            stage=ctx.stage,
            outcome=outcome,
            duration_ms=took,
            queue_wait_ms=waited,
            attempt=ctx.attempt,
            worker=ctx.worker,
            detail=detail,
        )
        self._store.add_event(
            EventRecord(
                article_id=ctx.article_id,
                event=event,
                stage=ctx.stage,
                outcome=outcome,
                at=utcnow(),
                duration_ms=took,
                queue_wait_ms=waited,
                attempt=ctx.attempt,
                worker=ctx.worker,
                detail={k: v for k, v in detail.items() if _jsonable(v)},
            )
        )
        if self._metrics is not None:
            self._metrics.record(ctx.stage, outcome, duration_ms, ctx.queue_wait_ms)


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict)
