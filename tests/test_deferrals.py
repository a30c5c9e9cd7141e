"""Deferred deliveries in Redis: put off until due, handed out once, with what they carry."""

from __future__ import annotations

import threading
import time

import redis

from workers.adapters.deferrals import DeferredDelivery, RedisDeferrals
from workers.models import SlotReservation


def test_a_deferral_is_handed_out_once_when_due_with_its_slot(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    slot = SlotReservation("news.example", time.time() + 0.2)
    deferrals.defer(DeferredDelivery("fetch", "a1", slot, infra_attempt=2), time.time() + 0.2)
    due, next_in = deferrals.pop_due()
    assert due == []
    assert next_in is not None
    assert 0 < next_in <= 0.2
    time.sleep(0.25)
    due, _ = deferrals.pop_due()
    assert due == [DeferredDelivery("fetch", "a1", slot, infra_attempt=2)]
    assert deferrals.pop_due() == ([], None)


def test_deferring_again_replaces_the_earlier_deferral(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    deferrals.defer(DeferredDelivery("clean", "a1"), time.time() + 3600)
    deferrals.defer(DeferredDelivery("clean", "a1"), time.time() - 1)
    assert deferrals.count() == 1
    assert [d.article_id for d in deferrals.pop_due()[0]] == ["a1"]


def test_concurrent_dispatchers_never_get_the_same_deferral(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    for n in range(600):
        deferrals.defer(DeferredDelivery("fetch", f"a{n}"), time.time() - 1)
    got: list[list[str]] = [[], [], []]

    def drain(out: list[str]) -> None:
        client = redis.Redis.from_url(redis_url)
        mine = RedisDeferrals(client, key_prefix)
        while True:
            due, _ = mine.pop_due(limit=50)
            if not due:
                break
            out.extend(d.article_id for d in due)
        client.close()

    threads = [threading.Thread(target=drain, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [a for out in got for a in out]
    assert sorted(everything) == sorted(f"a{n}" for n in range(600))


def test_which_articles_have_a_deferral_is_one_question(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    deferrals = RedisDeferrals(redis_client, key_prefix)
    deferrals.defer(DeferredDelivery("dedup", "a1"), time.time() + 60)
    assert deferrals.scheduled("dedup", ["a1", "a2"]) == {"a1"}
    assert deferrals.scheduled("fetch", ["a1"]) == set()
