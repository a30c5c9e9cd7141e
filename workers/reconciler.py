"""The reconciler: the store is the source of truth, the queue is a hint.

A message can vanish however carefully it is handled: Redis restarted without persistence, a
consumer killed between popping a message and recording it as unacked, a publish that failed
while the broker was away, an operator deleting a queue. The article is then still in the store,
pending (queued, fetched, cleaned or deduplicated) and overdue. The reconciler finds such
articles and sends them to the stage they wait for.

An article is *stranded* when it has been due for longer than `stranded_after` and its message
is nowhere:
- not waiting in its stage queue: queues are FIFO, so a message published before the oldest
  message still waiting has left the queue (a margin covers clock differences between hosts);
- not running: no delivery holds the article's stage lock;
- not deferred: no retry or politeness slot is scheduled for it.
Recovery is safe to repeat: every stage is idempotent, so a message sent twice costs a look at
the store, never a second result. Several schedulers may reconcile at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from workers.errors import InfrastructureError
from workers.pipeline import Stage, StagePublisher, Status, waiting_stage
from workers.store.repository import EventRecord, PendingArticle, utcnow
from workers.tracing import RECOVERED, log_event

log = structlog.get_logger("newsflow.reconciler")

# Enqueue times come from the publishing host's clock, due times from the committing host's:
# a message is only taken for gone when it was due this much before the oldest one waiting.
CLOCK_MARGIN_S = 5.0
PAGE = 1000


class PendingStore(Protocol):
    def pending_due_before(
        self, cutoff: datetime, limit: int = PAGE, after: tuple[datetime, str] | None = None
    ) -> list[PendingArticle]: ...

    def mark_resent(
        self, resent: Sequence[tuple[str, str]], events: Sequence[EventRecord]
    ) -> int: ...


class QueueProbe(Protocol):
    def oldest_enqueued_at(self, queue: str) -> float | None:
        """Epoch seconds the oldest waiting message was published; None for an empty queue."""
        ...


class LockView(Protocol):
    def held(self, stage: str, article_ids: list[str]) -> set[str]: ...


class DeferralView(Protocol):
    def scheduled(self, stage: str, article_ids: list[str]) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class Stranded:
    article_id: str
    status: Status
    stage: Stage
    due_at: datetime

    def overdue_s(self, now: datetime) -> float:
        return (now - self.due_at).total_seconds()


@dataclass(slots=True)
class ReconcileReport:
    examined: int = 0
    stranded: list[Stranded] = field(default_factory=list)
    resent: list[Stranded] = field(default_factory=list)


def find_stranded(
    store: PendingStore,
    queues: QueueProbe,
    locks: LockView,
    deferrals: DeferralView,
    stranded_after: float,
    now: datetime | None = None,
    limit: int = 10_000,
) -> tuple[int, list[Stranded]]:
    """(pending articles examined, the stranded ones among them), oldest first."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stranded_after)
    candidates: list[PendingArticle] = []
    after: tuple[datetime, str] | None = None
    while len(candidates) < limit:
        page = store.pending_due_before(cutoff, min(PAGE, limit - len(candidates)), after)
        candidates.extend(page)
        if len(page) < PAGE:
            break
        after = (page[-1].due_at, page[-1].id)
    by_stage: dict[Stage, list[PendingArticle]] = defaultdict(list)
    for article in candidates:
        stage = waiting_stage(article.status)
        if stage is not None:
            by_stage[stage].append(article)
    stranded: list[Stranded] = []
    for stage, group in by_stage.items():
        oldest = queues.oldest_enqueued_at(stage.value)
        if oldest is not None:
            group = [a for a in group if a.due_at.timestamp() < oldest - CLOCK_MARGIN_S]
        ids = [a.id for a in group]
        busy = locks.held(stage.value, ids) | deferrals.scheduled(stage.value, ids)
        stranded.extend(
            Stranded(a.id, Status(a.status), stage, a.due_at) for a in group if a.id not in busy
        )
    stranded.sort(key=lambda s: s.due_at)
    return len(candidates), stranded


def reconcile(
    store: PendingStore,
    queues: QueueProbe,
    locks: LockView,
    deferrals: DeferralView,
    publisher: StagePublisher,
    stranded_after: float,
    worker: str = "",
    now: datetime | None = None,
    limit: int = 10_000,
) -> ReconcileReport:
    """Send every stranded article to the stage it waits for; record each (an
    `article_recovered` event, which the metrics count, and a log line)."""
    now = now or utcnow()
    examined, stranded = find_stranded(store, queues, locks, deferrals, stranded_after, now, limit)
    report = ReconcileReport(examined=examined, stranded=stranded)
    for item in stranded:
        try:
            publisher.send(item.stage, item.article_id)
        except InfrastructureError as exc:
            log.warning("reconcile_interrupted", error=str(exc), left=len(stranded))
            break
        report.resent.append(item)
    if not report.resent:
        return report
    events = [
        EventRecord(
            article_id=item.article_id,
            event=RECOVERED,
            stage=item.stage.value,
            outcome="recovered",
            at=now,
            worker=worker,
            detail={"status": item.status.value, "overdue_s": round(item.overdue_s(now), 1)},
        )
        for item in report.resent
    ]
    store.mark_resent([(item.article_id, item.status.value) for item in report.resent], events)
    for record in events:
        log_event(record, url=None, level="warning")
    return report


def stranded_summary(
    stranded: Sequence[Stranded], now: datetime | None = None
) -> dict[str, dict[str, float]]:
    """Per status: how many stranded articles, and how long the oldest has been overdue."""
    now = now or utcnow()
    summary: dict[str, dict[str, float]] = {}
    for item in stranded:
        entry = summary.setdefault(item.status.value, {"count": 0, "oldest_overdue_s": 0.0})
        entry["count"] += 1
        entry["oldest_overdue_s"] = max(entry["oldest_overdue_s"], round(item.overdue_s(now), 1))
    return summary


class RedisQueueProbe:
    """Reads the head of a kombu Redis queue (the oldest message) for its enqueue time.
    `key_prefix` is kombu's `global_keyprefix`, when the broker uses one."""

    def __init__(self, client: Any, key_prefix: str = "") -> None:
        self._client = client
        self._prefix = key_prefix

    def oldest_enqueued_at(self, queue: str) -> float | None:
        """When the oldest message waiting in `queue` was published (its `enqueued_at`
        header); None when the queue is empty. kombu pushes new messages on the left and
        consumers pop on the right, so the oldest is the rightmost. A message without the
        header answers 0.0, "as old as can be", so nothing is taken for gone behind it."""
        raw = self._client.lindex(f"{self._prefix}{queue}", -1)
        if raw is None:
            return None
        try:
            headers = json.loads(raw).get("headers") or {}
            return float(headers["enqueued_at"])
        except (ValueError, TypeError, KeyError, AttributeError):
            return 0.0


__all__ = [
    "CLOCK_MARGIN_S",
    "ReconcileReport",
    "RedisQueueProbe",
    "Stranded",
    "find_stranded",
    "reconcile",
    "stranded_summary",
]
