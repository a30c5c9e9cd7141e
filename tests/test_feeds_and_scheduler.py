"""Feed state and the scheduler tick: adaptive polling, back-off, disabling, one enqueue a slot."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from workers.scheduler import scheduler_tick
from workers.services import Services
from workers.settings import Settings
from workers.store import open_store
from workers.store.feeds import (
    DISABLE_AFTER,
    MAX_INTERVAL_S,
    FeedSpec,
    FeedStore,
    adapt_interval,
)
from workers.store.repository import utcnow


@pytest.fixture
def feeds(tmp_path: Path) -> FeedStore:
    return FeedStore(open_store(f"sqlite:///{tmp_path / 'feeds.db'}").engine)


def test_busy_feed_is_polled_sooner_and_quiet_feed_later_within_bounds() -> None:
    assert adapt_interval(900, 900, new_items=5) < 900
    assert adapt_interval(900, 900, new_items=0) > 900
    assert adapt_interval(900, 60, new_items=50) == 225  # never below a quarter of the base
    assert adapt_interval(900, 7200, new_items=0) == 7200  # never above 8x the base


def test_success_stores_validators_and_schedules_the_next_poll(feeds: FeedStore) -> None:
    feeds.upsert(FeedSpec(url="https://news.example/rss", interval_s=600))
    feeds.record_success("https://news.example/rss", 3, etag='"v1"', last_modified="Mon")
    state = feeds.get("https://news.example/rss")
    assert state is not None
    assert (state.etag, state.last_modified) == ('"v1"', "Mon")
    assert state.current_interval_s == 300
    assert state.next_due_at > utcnow() + timedelta(seconds=250)


def test_not_modified_keeps_the_validators(feeds: FeedStore) -> None:
    feeds.upsert(FeedSpec(url="https://news.example/rss"))
    feeds.record_success("https://news.example/rss", 0, etag='"v1"')
    feeds.record_success("https://news.example/rss", 0, not_modified=True)
    state = feeds.get("https://news.example/rss")
    assert state is not None
    assert state.etag == '"v1"'


def test_failing_feed_backs_off_and_is_disabled_with_its_reason(feeds: FeedStore) -> None:
    feeds.upsert(FeedSpec(url="https://dead.example/rss", interval_s=600))
    feeds.record_failure("https://dead.example/rss", "http_500: server error")
    first = feeds.get("https://dead.example/rss")
    assert first is not None
    assert first.enabled
    assert first.next_due_at > utcnow() + timedelta(seconds=1100)  # 600 * 2
    for _ in range(DISABLE_AFTER - 1):
        feeds.record_failure("https://dead.example/rss", "http_500: server error")
    state = feeds.get("https://dead.example/rss")
    assert state is not None
    assert not state.enabled
    assert state.disabled_reason is not None
    assert "http_500" in state.disabled_reason
    assert state.next_due_at <= utcnow() + timedelta(seconds=MAX_INTERVAL_S + 5)
    assert feeds.claim_due() == []


def test_re_enabling_a_feed_resets_its_failures(feeds: FeedStore) -> None:
    feeds.upsert(FeedSpec(url="https://dead.example/rss"))
    for _ in range(DISABLE_AFTER):
        feeds.record_failure("https://dead.example/rss", "timeout")
    feeds.upsert(FeedSpec(url="https://dead.example/rss", enabled=True))
    state = feeds.get("https://dead.example/rss")
    assert state is not None
    assert state.enabled
    assert state.consecutive_failures == 0
    assert feeds.claim_due() == ["https://dead.example/rss"]


def test_a_claimed_feed_is_not_due_again_until_its_lease_ends(feeds: FeedStore) -> None:
    feeds.upsert(FeedSpec(url="https://news.example/rss"))
    assert feeds.claim_due() == ["https://news.example/rss"]
    assert feeds.claim_due() == []


def _scheduler_process(
    database_url: str,
    redis_url: str,
    prefix: str,
    out_key: str,
) -> None:
    settings = Settings().with_overrides(
        database_url=database_url, redis_url=redis_url, key_prefix=prefix
    )
    svc = Services(settings)  # in a process of its own, which exits when done
    client = redis.Redis.from_url(redis_url)
    owner = multiprocessing.current_process().name
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        scheduler_tick(svc, lambda url: client.rpush(out_key, f"{owner} {url}"), 0.2, owner)
        time.sleep(0.01)


@pytest.mark.integration  # two scheduler processes race for the same due feeds
def test_two_scheduler_processes_enqueue_a_due_feed_once(
    tmp_path: Path, redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> None:
    database_url = f"sqlite:///{tmp_path / 'sched.db'}"
    feeds = FeedStore(open_store(database_url).engine)
    for i in range(20):
        feeds.upsert(FeedSpec(url=f"https://site{i}.example/rss", interval_s=3600))
    out_key = f"{key_prefix}:enqueued"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_scheduler_process,
            args=(database_url, redis_url, key_prefix, out_key),
            name=f"scheduler-{n}",
        )
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    enqueued = [line.decode().split(" ", 1)[1] for line in redis_client.lrange(out_key, 0, -1)]
    assert sorted(enqueued) == sorted(f"https://site{i}.example/rss" for i in range(20))
