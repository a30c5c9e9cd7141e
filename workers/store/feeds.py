"""FeedStore: the sources newsflow polls and their polling state (ETag, failures, next due time).

Polling adapts within bounds: a feed that yielded new items is polled sooner, a quiet one later,
a failing one backs off exponentially and is disabled after `DISABLE_AFTER` failures in a row.
The scheduler claims due feeds with a conditional UPDATE, so two schedulers never both enqueue
the same feed for the same slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from workers.feedspec import FEED_KINDS, MIN_INTERVAL_S, FeedSpec
from workers.store.repository import _aware, utcnow

__all__ = ["FEED_KINDS", "FeedSpec", "FeedState", "FeedStore", "adapt_interval"]
from workers.store.schema import Feed

# A busy feed is polled at most 4x as often as configured, a quiet one at most 8x less often:
# wide enough to follow a news site's day/night rhythm, narrow enough that a quiet feed that
# wakes up is noticed within a working day.
MIN_FACTOR, MAX_FACTOR = 0.25, 8.0
MAX_INTERVAL_S = 86_400
# Ten failures in a row with exponential back-off is about a day of trying: long enough to ride
# out an outage, short enough that a dead feed stops costing requests.
DISABLE_AFTER = 10
# After enqueueing a crawl, a feed is not due again until the crawl reports back or this passes.
CLAIM_LEASE_S = 600
# A poll cut short by its time limit resumes after a minute (the lease would wait ten).
RESUME_AFTER_S = 60


@dataclass(frozen=True, slots=True)
class FeedState:
    url: str
    kind: str
    interval_s: int
    current_interval_s: int
    enabled: bool
    disabled_reason: str | None
    etag: str | None
    last_modified: str | None
    last_success_at: datetime | None
    last_polled_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    next_due_at: datetime
    section: str | None = None
    tags: list[str] = field(default_factory=list)


def _state(row: Feed) -> FeedState:
    return FeedState(
        url=row.url,
        kind=row.kind,
        interval_s=row.interval_s,
        current_interval_s=row.current_interval_s,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        etag=row.etag,
        last_modified=row.last_modified,
        last_success_at=_aware(row.last_success_at),
        last_polled_at=_aware(row.last_polled_at),
        consecutive_failures=row.consecutive_failures,
        last_error=row.last_error,
        next_due_at=_aware(row.next_due_at) or utcnow(),
        section=row.section,
        tags=list(row.tags or []),
    )


def adapt_interval(base: int, current: int, new_items: int) -> int:
    """Next polling interval: shorter after new items, longer after none, within bounds."""
    low = max(MIN_INTERVAL_S, int(base * MIN_FACTOR))
    high = min(MAX_INTERVAL_S, int(base * MAX_FACTOR))
    proposed = current * 0.5 if new_items > 0 else current * 1.5
    return int(min(high, max(low, proposed)))


def failure_backoff(base: int, failures: int) -> int:
    return int(min(MAX_INTERVAL_S, base * (2 ** min(failures, 16))))


class FeedStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def upsert(self, spec: FeedSpec) -> None:
        with self._session() as s:
            row = s.get(Feed, spec.url)
            if row is None:
                s.add(
                    Feed(
                        url=spec.url,
                        kind=spec.kind,
                        interval_s=spec.interval_s,
                        current_interval_s=spec.interval_s,
                        section=spec.section,
                        tags=list(spec.tags),
                        enabled=spec.enabled,
                        consecutive_failures=0,
                        last_new_items=0,
                        next_due_at=utcnow(),
                    )
                )
                return
            if row.interval_s != spec.interval_s:
                row.current_interval_s = spec.interval_s
            row.kind, row.interval_s = spec.kind, spec.interval_s
            row.section, row.tags = spec.section, list(spec.tags)
            if spec.enabled and not row.enabled:
                row.consecutive_failures, row.disabled_reason = 0, None
                row.next_due_at = utcnow()
            row.enabled = spec.enabled

    def sync(self, specs: Iterable[FeedSpec], remove_missing: bool = False) -> tuple[int, int]:
        """Make the table match `specs`; returns (upserted, removed)."""
        specs = list(specs)
        for spec in specs:
            self.upsert(spec)
        removed = 0
        if remove_missing:
            wanted = {spec.url for spec in specs}
            for state in self.all():
                if state.url not in wanted:
                    removed += self.remove(state.url)
        return len(specs), removed

    def remove(self, url: str) -> int:
        with self._session() as s:
            result: CursorResult[Any] = s.execute(delete(Feed).where(Feed.url == url))  # type: ignore[assignment]
            return int(result.rowcount or 0)

    def get(self, url: str) -> FeedState | None:
        with self._session() as s:
            row = s.get(Feed, url)
            return None if row is None else _state(row)

    def all(self) -> list[FeedState]:
        with self._session() as s:
            return [_state(r) for r in s.scalars(select(Feed).order_by(Feed.url))]

    def health_counts(self, overdue_before: datetime) -> dict[str, int]:
        """How many feeds there are, and how many are disabled, failing (enabled, with failed
        polls since the last success) and overdue (enabled and due before `overdue_before`):
        one pass over the feeds table."""
        failing = Feed.consecutive_failures > 0
        overdue = Feed.next_due_at < overdue_before
        with self._session() as s:
            rows = s.execute(
                select(Feed.enabled, failing, overdue, func.count()).group_by(
                    Feed.enabled, failing, overdue
                )
            )
            counts = {"total": 0, "enabled": 0, "disabled": 0, "failing": 0, "overdue": 0}
            for enabled, is_failing, is_overdue, n in rows:
                counts["total"] += n
                if not enabled:
                    counts["disabled"] += n
                    continue
                counts["enabled"] += n
                counts["failing"] += n if is_failing else 0
                counts["overdue"] += n if is_overdue else 0
            return counts

    def troubled(self, overdue_before: datetime, limit: int = 20) -> list[FeedState]:
        """Feeds an operator should look at: disabled, failing or overdue; the worst first."""
        with self._session() as s:
            rows = s.scalars(
                select(Feed)
                .where(
                    or_(
                        Feed.enabled.is_(False),
                        Feed.consecutive_failures > 0,
                        Feed.next_due_at < overdue_before,
                    )
                )
                .order_by(Feed.enabled, Feed.consecutive_failures.desc(), Feed.next_due_at)
                .limit(limit)
            )
            return [_state(r) for r in rows]

    def claim_due(self, now: datetime | None = None, limit: int = 1000) -> list[str]:
        """Claim up to `limit` due feeds: each URL is returned to exactly one caller per slot.

        A conditional UPDATE ... RETURNING: a concurrent claimer waits on the same rows and then
        finds them no longer due, so no feed is handed out twice.
        """
        now = now or utcnow()
        lease = now + timedelta(seconds=CLAIM_LEASE_S)
        with self._session() as s:
            due = list(
                s.scalars(
                    select(Feed.url)
                    .where(Feed.enabled.is_(True), Feed.next_due_at <= now)
                    .order_by(Feed.next_due_at)
                    .limit(limit)
                )
            )
        if not due:
            return []
        # A separate write transaction: SQLite cannot upgrade a read transaction to a write
        # one while another process writes (it fails at once instead of waiting).
        with self._session() as s:
            claimed = s.scalars(
                update(Feed)
                .where(Feed.url.in_(due), Feed.next_due_at <= now, Feed.enabled.is_(True))
                .values(next_due_at=lease, last_polled_at=now)
                .returning(Feed.url)
            )
            return sorted(claimed)

    def record_success(
        self,
        url: str,
        new_items: int,
        etag: str | None = None,
        last_modified: str | None = None,
        not_modified: bool = False,
    ) -> None:
        with self._session() as s:
            row = s.get(Feed, url)
            if row is None:
                return  # an ad-hoc feed (`ingest --feed`) has no stored state
            now = utcnow()
            row.current_interval_s = adapt_interval(
                row.interval_s, row.current_interval_s, new_items
            )
            row.last_success_at = now
            row.last_new_items = new_items
            row.consecutive_failures = 0
            row.last_error = None
            if not not_modified:
                row.etag, row.last_modified = etag, last_modified
            row.next_due_at = now + timedelta(seconds=row.current_interval_s)

    def postpone(self, url: str, until_epoch: float, reason: str) -> None:
        """Poll again at `until_epoch` (the host's next polite slot): no failure, no back-off."""
        with self._session() as s:
            row = s.get(Feed, url)
            if row is None:
                return
            row.next_due_at = max(utcnow(), datetime.fromtimestamp(until_epoch, UTC))

    def record_incomplete(self, url: str, note: str) -> None:
        """A poll cut short (its time limit): keep the old validators, so the next poll gets
        the whole body again, and resume soon; what was queued is remembered by the seen-set."""
        with self._session() as s:
            row = s.get(Feed, url)
            if row is None:
                return
            row.last_error = note[:500]
            row.next_due_at = utcnow() + timedelta(seconds=RESUME_AFTER_S)

    def record_failure(self, url: str, error: str) -> None:
        with self._session() as s:
            row = s.get(Feed, url)
            if row is None:
                return
            now = utcnow()
            row.consecutive_failures += 1
            row.last_error = error[:500]
            if row.consecutive_failures >= DISABLE_AFTER:
                row.enabled = False
                row.disabled_reason = (
                    f"disabled after {row.consecutive_failures} failures in a row: {error[:200]}"
                )
            delay = failure_backoff(row.interval_s, row.consecutive_failures)
            row.next_due_at = now + timedelta(seconds=delay)
