"""Read-only reports over the store for the dashboard (`newsflow serve`'s /api/overview).

Each report is one or two SELECTs bounded by a time window or a row limit (the `events` table
is read through its `at` index), portable between SQLite and PostgreSQL; on PostgreSQL each
runs under a statement timeout, so a dashboard poll never holds the database for long.

- `stage_throughput`: stage events per minute, by stage and outcome.
- `latency_percentiles`: p50/p95/p99 of stage durations and queue waits, per stage.
- `feed_health`: feeds failing, overdue and disabled (with the reason).
- `recent_failures`: quarantined articles, newest first, with their reasons.

`article_stored` is left out of the counts and latencies: it marks a classify delivery that
ended stored, the same delivery its `article_classified` event already counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, case, cast, func, select, text
from sqlalchemy.engine import Connection

from workers.store.repository import _aware
from workers.store.schema import Article, Event, Feed

# The window and the resolution the dashboard charts: the last hour, a bar per minute.
WINDOW_S = 3600
BUCKET_S = 60
# A report that takes longer than this on PostgreSQL is cancelled (the dashboard shows its
# error): a poll must never pile up work on a loaded database.
STATEMENT_TIMEOUT_MS = 10_000
# Percentiles are read from at most this many of the newest stage runs in the window (a few
# MB): at 100,000 articles a day an hour holds ~17,000, so the cap only bites far above that,
# and then the answer is that of the newest runs (`sampled` says so).
LATENCY_SAMPLE = 200_000
PERCENTILES = (50, 95, 99)
# A due feed is claimed within a scheduler tick (10 s by default); five minutes past due means
# nobody is claiming it: the scheduler is down or cannot reach the database.
OVERDUE_AFTER_S = 300
NOT_A_DELIVERY = "article_stored"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only connection for one report, rolled back at the end."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        try:
            yield conn
        finally:
            conn.rollback()


def window_start(now: datetime, window_s: int = WINDOW_S, bucket_s: int = BUCKET_S) -> datetime:
    """Start of the first bucket of a window ending with the bucket that holds `now`."""
    current = math.floor(now.timestamp() / bucket_s) * bucket_s
    buckets = window_s // bucket_s
    return datetime.fromtimestamp(current - (buckets - 1) * bucket_s, UTC)


def stage_throughput(
    engine: Engine, now: datetime, window_s: int = WINDOW_S, bucket_s: int = BUCKET_S
) -> dict[str, Any]:
    """Stage events per bucket over the window, by stage and outcome.

    `{"start": epoch of the first bucket, "bucket_s", "buckets": n, "stages": {stage:
    {outcome: [n counts, oldest first]}}, "totals": {stage: {outcome: count}}}`; the last
    bucket is the one still filling.
    """
    start = window_start(now, window_s, bucket_s)
    buckets = window_s // bucket_s
    first = int(start.timestamp()) // bucket_s
    if engine.dialect.name == "postgresql":
        epoch = cast(func.floor(func.extract("epoch", Event.at)), BigInteger)
    else:  # SQLite keeps UTC as text; strftime('%s') reads it back as whole epoch seconds
        epoch = cast(func.strftime("%s", Event.at), Integer)
    bucket = (epoch // bucket_s).label("bucket")
    query = (
        select(Event.stage, Event.outcome, bucket, func.count())
        .where(Event.at >= start, Event.event != NOT_A_DELIVERY)
        .group_by(Event.stage, Event.outcome, bucket)
    )
    stages: dict[str, dict[str, list[int]]] = {}
    totals: dict[str, dict[str, int]] = {}
    with reading(engine) as conn:
        for stage, outcome, index, count in conn.execute(query):
            position = int(index) - first
            if not 0 <= position < buckets:
                continue  # stamped in the future by a host whose clock runs ahead
            series = stages.setdefault(stage, {}).setdefault(outcome, [0] * buckets)
            series[position] += int(count)
            per_stage = totals.setdefault(stage, {})
            per_stage[outcome] = per_stage.get(outcome, 0) + int(count)
    return {
        "start": int(start.timestamp()),
        "bucket_s": bucket_s,
        "buckets": buckets,
        "stages": stages,
        "totals": totals,
    }


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The `p`th percentile (0-100) of ascending values, interpolated between the closest
    ranks (as PostgreSQL's percentile_cont and numpy's default); None for no values."""
    if not sorted_values:
        return None
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    value = sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)
    return round(value, 2)


def _summary(values: list[float]) -> dict[str, Any]:
    values.sort()
    return {"n": len(values), **{f"p{p}": percentile(values, p) for p in PERCENTILES}}


def latency_percentiles(
    engine: Engine, now: datetime, window_s: int = WINDOW_S, sample: int = LATENCY_SAMPLE
) -> dict[str, Any]:
    """p50/p95/p99 per stage over the window, of the time a stage ran (`duration_ms`, every
    run: stored, skipped, retried or quarantined) and of the time its message waited in the
    queue (`queue_wait_ms`, once per delivery).

    `{"stages": {stage: {"duration_ms": {"n", "p50", "p95", "p99"}, "queue_wait_ms": {...}}},
    "sampled": bool}`.
    """
    since = now - timedelta(seconds=window_s)
    query = (
        select(Event.stage, Event.duration_ms, Event.queue_wait_ms)
        .where(
            Event.at >= since,
            Event.event != NOT_A_DELIVERY,
            (Event.duration_ms.is_not(None)) | (Event.queue_wait_ms.is_not(None)),
        )
        .order_by(Event.id.desc())
        .limit(sample)
    )
    durations: dict[str, list[float]] = {}
    waits: dict[str, list[float]] = {}
    rows = 0
    with reading(engine) as conn:
        for stage, duration_ms, queue_wait_ms in conn.execute(query):
            rows += 1
            if duration_ms is not None:
                durations.setdefault(stage, []).append(float(duration_ms))
            if queue_wait_ms is not None:
                waits.setdefault(stage, []).append(float(queue_wait_ms))
    stages = {
        stage: {
            "duration_ms": _summary(durations.get(stage, [])),
            "queue_wait_ms": _summary(waits.get(stage, [])),
        }
        for stage in sorted({*durations, *waits})
    }
    return {"stages": stages, "sampled": rows >= sample}


def _iso(value: datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware else None


def feed_health(
    engine: Engine, now: datetime, overdue_after_s: int = OVERDUE_AFTER_S, limit: int = 20
) -> dict[str, Any]:
    """Feed counts, and the feeds that need a look: failing (enabled, failed last time),
    overdue (enabled, due more than `overdue_after_s` ago and not claimed), disabled (with the
    reason: failures in a row, or the feeds file). Each list holds at most `limit` feeds."""
    late = now - timedelta(seconds=overdue_after_s)
    failing = Feed.enabled.is_(True) & (Feed.consecutive_failures > 0)
    overdue = Feed.enabled.is_(True) & (Feed.next_due_at < late)
    disabled = Feed.enabled.is_(False)
    counts = select(
        func.count(),
        func.coalesce(func.sum(case((failing, 1), else_=0)), 0),
        func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
        func.coalesce(func.sum(case((disabled, 1), else_=0)), 0),
    ).select_from(Feed)
    with reading(engine) as conn:
        total, n_failing, n_overdue, n_disabled = conn.execute(counts).one()
        failing_rows = conn.execute(
            select(
                Feed.url,
                Feed.consecutive_failures,
                Feed.last_error,
                Feed.last_success_at,
                Feed.next_due_at,
            )
            .where(failing)
            .order_by(Feed.consecutive_failures.desc(), Feed.url)
            .limit(limit)
        ).all()
        overdue_rows = conn.execute(
            select(Feed.url, Feed.next_due_at, Feed.last_polled_at)
            .where(overdue)
            .order_by(Feed.next_due_at, Feed.url)
            .limit(limit)
        ).all()
        disabled_rows = conn.execute(
            select(Feed.url, Feed.disabled_reason, Feed.last_error)
            .where(disabled)
            .order_by(Feed.url)
            .limit(limit)
        ).all()
    return {
        "total": int(total),
        "failing_count": int(n_failing),
        "overdue_count": int(n_overdue),
        "disabled_count": int(n_disabled),
        "overdue_after_s": overdue_after_s,
        "failing": [
            {
                "url": url,
                "consecutive_failures": failures,
                "last_error": error,
                "last_success_at": _iso(success),
                "next_due_at": _iso(due),
            }
            for url, failures, error, success, due in failing_rows
        ],
        "overdue": [
            {
                "url": url,
                "next_due_at": _iso(due),
                "overdue_s": round((now - (_aware(due) or now)).total_seconds(), 1),
                "last_polled_at": _iso(polled),
            }
            for url, due, polled in overdue_rows
        ],
        "disabled": [
            {"url": url, "reason": reason or "disabled in the feeds file", "last_error": error}
            for url, reason, error in disabled_rows
        ],
    }


def recent_failures(engine: Engine, limit: int = 20) -> dict[str, Any]:
    """Quarantined articles (status failed), newest first, with the stage and the reason;
    each is what `newsflow replay` would send back."""
    failed = Article.status == "failed"
    with reading(engine) as conn:
        total = conn.execute(select(func.count()).select_from(Article).where(failed)).scalar()
        rows = conn.execute(
            select(
                Article.id,
                Article.url,
                Article.failed_stage,
                Article.status_reason,
                Article.updated_at,
            )
            .where(failed)
            .order_by(Article.updated_at.desc(), Article.id)
            .limit(limit)
        ).all()
    return {
        "total": int(total or 0),
        "articles": [
            {
                "id": article_id,
                "url": url,
                "stage": stage,
                "reason": reason,
                "failed_at": _iso(updated),
            }
            for article_id, url, stage, reason, updated in rows
        ],
    }
