"""The reconciler finds articles whose message is nowhere and sends them again; it leaves
alone those whose message is still queued, running or deferred."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery

from tests.fakes import MemoryDeferrals, MemoryGuard, MemoryQueue, MemoryStore
from workers.adapters.deferrals import DeferredDelivery
from workers.pipeline import Stage, Status
from workers.queueing import CeleryPublisher
from workers.reconciler import CLOCK_MARGIN_S, RedisQueueProbe, find_stranded, reconcile
from workers.settings import Settings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
AFTER = 120.0


class Queues:
    """The broker's queue heads: when the oldest waiting message of each queue was sent."""

    def __init__(self, **oldest: float) -> None:
        self.oldest = oldest

    def oldest_enqueued_at(self, queue: str) -> float | None:
        return self.oldest.get(queue)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def pending(store: MemoryStore, article_id: str, status: Status, minutes_overdue: float) -> None:
    article = store.add(article_id, f"https://news.example/{article_id}", status)
    article.due_at = NOW - timedelta(minutes=minutes_overdue)


def stranded_ids(store: MemoryStore, queues: Queues, guard: MemoryGuard | None = None,
                 deferrals: MemoryDeferrals | None = None) -> list[str]:  # fmt: skip
    _, found = find_stranded(
        store, queues, guard or MemoryGuard(), deferrals or MemoryDeferrals(), AFTER, NOW
    )
    return [s.article_id for s in found]


def test_an_overdue_article_with_no_message_anywhere_is_stranded(store: MemoryStore) -> None:
    pending(store, "a1", Status.CLEANED, minutes_overdue=10)
    assert stranded_ids(store, Queues()) == ["a1"]


def test_an_article_due_only_moments_ago_is_left_alone(store: MemoryStore) -> None:
    pending(store, "a1", Status.QUEUED, minutes_overdue=1)  # under NEWSFLOW_STRANDED_AFTER
    assert stranded_ids(store, Queues()) == []


def test_the_default_threshold_is_two_minutes() -> None:
    assert Settings().stranded_after == 120


def test_an_article_whose_message_may_still_be_queued_is_left_alone(store: MemoryStore) -> None:
    """Queues are FIFO: a message sent after the oldest one still waiting is still waiting."""
    pending(store, "waiting", Status.QUEUED, minutes_overdue=10)
    pending(store, "gone", Status.QUEUED, minutes_overdue=30)
    oldest_waiting = (NOW - timedelta(minutes=20)).timestamp()
    assert stranded_ids(store, Queues(fetch=oldest_waiting)) == ["gone"]


def test_the_queue_check_allows_for_clock_differences(store: MemoryStore) -> None:
    pending(store, "a1", Status.QUEUED, minutes_overdue=10)
    due = (NOW - timedelta(minutes=10)).timestamp()
    assert stranded_ids(store, Queues(fetch=due + CLOCK_MARGIN_S / 2)) == []


def test_an_article_being_worked_on_or_deferred_is_left_alone(store: MemoryStore) -> None:
    pending(store, "running", Status.FETCHED, minutes_overdue=10)
    pending(store, "deferred", Status.FETCHED, minutes_overdue=10)
    guard, deferrals = MemoryGuard(), MemoryDeferrals()
    guard.admit("clean", "running", "h:1:x")
    deferrals.defer(DeferredDelivery("clean", "deferred"), 0.0)
    assert stranded_ids(store, Queues(), guard, deferrals) == []


def test_finished_articles_are_never_looked_at(store: MemoryStore) -> None:
    for n, status in enumerate((Status.STORED, Status.FAILED, Status.SKIPPED)):
        pending(store, f"a{n}", status, minutes_overdue=60)
    assert stranded_ids(store, Queues()) == []


def test_stranded_articles_are_sent_to_their_stage_recorded_and_counted(
    store: MemoryStore,
) -> None:
    pending(store, "a1", Status.QUEUED, minutes_overdue=10)
    pending(store, "a2", Status.DEDUPLICATED, minutes_overdue=5)
    queue = MemoryQueue()
    report = reconcile(store, Queues(), MemoryGuard(), MemoryDeferrals(), queue, AFTER, now=NOW)
    assert [(m.stage, m.article_id) for m in queue.sent] == [
        (Stage.FETCH, "a1"),
        (Stage.CLASSIFY, "a2"),
    ]
    assert [s.article_id for s in report.resent] == ["a1", "a2"]
    # The events are what the metrics count (newsflow_articles_recovered_total).
    recovered = [(e.article_id, e.stage, e.outcome) for e in store.events]
    assert recovered == [("a1", "fetch", "recovered"), ("a2", "classify", "recovered")]


def test_with_the_broker_away_nothing_is_marked_as_sent(store: MemoryStore) -> None:
    pending(store, "a1", Status.QUEUED, minutes_overdue=10)
    queue = MemoryQueue()
    queue.down = True
    report = reconcile(store, Queues(), MemoryGuard(), MemoryDeferrals(), queue, AFTER, now=NOW)
    assert report.resent == []
    assert store.events == []


def test_the_queue_probe_reads_the_oldest_message_a_publisher_sent(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    """Against a real kombu message: published by our publisher, read back by the probe."""
    prefix = f"{key_prefix}:"
    celery = Celery("probe-test")
    celery.conf.update(
        broker_url=redis_url,
        broker_transport_options={"global_keyprefix": prefix},
        task_serializer="json",
    )
    probe = RedisQueueProbe(redis_client, key_prefix=prefix)
    assert probe.oldest_enqueued_at("fetch") is None
    publisher = CeleryPublisher(celery)
    before = datetime.now(UTC).timestamp()
    publisher.send(Stage.FETCH, "first")
    publisher.send(Stage.FETCH, "second")
    oldest = probe.oldest_enqueued_at("fetch")
    assert oldest is not None
    assert before <= oldest <= datetime.now(UTC).timestamp()
    redis_client.delete(f"{prefix}fetch")
    celery.close()
