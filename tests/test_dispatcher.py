"""The dispatcher puts due deferrals back on their queue, and loses none when it cannot."""

from __future__ import annotations

import time

import redis

from tests.fakes import MemoryQueue
from workers.adapters.deferrals import DeferredDelivery, RedisDeferrals
from workers.dispatcher import dispatch_due
from workers.models import SlotReservation
from workers.pipeline import Stage


def test_due_deferrals_are_published_with_what_they_carry(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    slot = SlotReservation("news.example", time.time())
    deferrals.defer(DeferredDelivery("fetch", "a1", slot), time.time() - 0.1)
    deferrals.defer(DeferredDelivery("clean", "a2", infra_attempt=3), time.time() - 0.1)
    deferrals.defer(DeferredDelivery("fetch", "later"), time.time() + 60)
    queue = MemoryQueue()
    sent, next_in = dispatch_due(deferrals, queue)
    assert sent == 2
    assert next_in is not None
    assert 55 < next_in <= 60
    by_id = {m.article_id: m for m in queue.sent}
    assert (by_id["a1"].stage, by_id["a1"].reservation) == (Stage.FETCH, slot)
    assert (by_id["a2"].stage, by_id["a2"].infra_attempt) == (Stage.CLEAN, 3)


def test_what_cannot_be_published_is_put_back(redis_client: redis.Redis, key_prefix: str) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    deferrals.defer(DeferredDelivery("fetch", "a1"), time.time() - 0.1)
    queue = MemoryQueue()
    queue.down = True
    assert dispatch_due(deferrals, queue)[0] == 0
    assert deferrals.scheduled("fetch", ["a1"]) == {"a1"}
    queue.down = False
    time.sleep(1.1)
    assert dispatch_due(deferrals, queue)[0] == 1


def test_a_full_batch_asks_to_be_called_again_at_once(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    for n in range(5):
        deferrals.defer(DeferredDelivery("fetch", f"a{n}"), time.time() - 0.1)
    assert dispatch_due(deferrals, MemoryQueue(), limit=3) == (3, 0.0)
