"""The outbox relay: terminal event rows from the store to the Redis Stream, on SQLite and
PostgreSQL, with the real Redis; the cursor lives in the database."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from sqlalchemy import insert, text

from tests import article_support as articles
from workers.events.relay import RelayLock, StreamWriter, relay_batch
from workers.pipeline import Stage
from workers.store import ArticleStore, open_store
from workers.store.outbox import EventOutbox, Position
from workers.store.schema import Event

SOURCE = "newsflow://test"


@pytest.fixture
def writer(redis_client: redis.Redis, key_prefix: str) -> StreamWriter:
    return StreamWriter(redis_client, f"{key_prefix}:events", maxlen=1000, max_age_s=0)


def entries(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    return [json.loads(f[b"event"]) for _, f in client.xrange(stream)]


def relay(store: ArticleStore, writer: StreamWriter, limit: int = 500) -> int:
    return relay_batch(EventOutbox(store.engine), writer, SOURCE, limit).sent


def test_each_terminal_article_becomes_one_entry_in_the_order_it_ended(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.stored(store, "a1", title="First")
    articles.duplicate(store, "a2", of="a1")
    articles.skipped(store, "a3")
    articles.failed(store, "a4")
    assert relay(store, writer) == 4
    got = entries(writer.client, writer.stream)
    assert [(e["subject"], e["type"]) for e in got] == [
        ("a1", "newsflow.article.stored"),
        ("a2", "newsflow.article.duplicate"),
        ("a3", "newsflow.article.skipped"),
        ("a4", "newsflow.article.failed"),
    ]
    first = got[0]["data"]
    assert (first["title"], first["label"], first["confidence"]) == ("First", "politics", 0.875)
    assert got[1]["data"]["duplicate_of"] == "a1"
    assert all("text" not in e["data"] for e in got)


def test_the_stream_entry_carries_type_and_id_as_plain_fields(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.stored(store, "a1")
    relay(store, writer)
    [(_, fields)] = writer.client.xrange(writer.stream)
    envelope = json.loads(fields[b"event"])
    assert fields[b"type"].decode() == envelope["type"]
    assert fields[b"id"].decode() == envelope["id"]


def test_articles_still_in_the_pipeline_send_nothing(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.fetch_and_clean(store, "a1", "https://news.example/a1", "Half way")
    assert relay(store, writer) == 0
    assert writer.client.xlen(writer.stream) == 0


def test_the_cursor_steps_over_the_rows_of_articles_still_in_the_pipeline(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.fetch_and_clean(store, "a1", "https://news.example/a1", "Half way")
    outbox = EventOutbox(store.engine)
    start = outbox.position()
    relay(store, writer)
    stepped = outbox.position()
    assert stepped > start  # the next pass does not read a1's rows again
    articles.stored(store, "a2")
    assert relay(store, writer) == 1
    assert [e["subject"] for e in entries(writer.client, writer.stream)] == ["a2"]


def test_the_cursor_moves_in_the_database_so_a_second_pass_sends_nothing_again(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.stored(store, "a1")
    outbox = EventOutbox(store.engine)
    before = outbox.position()
    assert relay(store, writer) == 1
    assert outbox.position() > before
    assert outbox.undelivered() == 0
    assert relay(store, writer) == 0
    assert writer.client.xlen(writer.stream) == 1


def test_a_relay_that_died_before_moving_the_cursor_resends_with_the_same_ids(
    store: ArticleStore, writer: StreamWriter
) -> None:
    articles.stored(store, "a1")
    articles.failed(store, "a2")
    outbox = EventOutbox(store.engine)
    # What a relay killed between XADD and the cursor update left behind:
    from workers.events.envelope import build_envelope

    batch = outbox.read_after(outbox.position())
    writer.publish([build_envelope(e, SOURCE) for e in batch.events])
    assert relay(store, writer) == 2
    ids = [e["id"] for e in entries(writer.client, writer.stream)]
    assert len(ids) == 4
    assert sorted(set(ids)) == sorted(ids[:2])


def test_a_backlog_is_sent_in_batches_without_losing_its_place(
    store: ArticleStore, writer: StreamWriter
) -> None:
    for n in range(7):
        articles.stored(store, f"a{n}")
    sent = [relay(store, writer, limit=4) for _ in range(12)]
    assert sum(sent) == 7
    assert [e["subject"] for e in entries(writer.client, writer.stream)] == [
        f"a{n}" for n in range(7)
    ]


def test_lag_counts_terminal_events_not_yet_sent(store: ArticleStore, writer: StreamWriter) -> None:
    outbox = EventOutbox(store.engine)
    articles.stored(store, "a1")
    articles.skipped(store, "a2")
    articles.fetch_and_clean(store, "a3", "https://news.example/a3", "pending")
    assert outbox.undelivered() == 2
    relay(store, writer)
    assert outbox.undelivered() == 0


def test_an_article_rejected_at_ingest_has_its_failed_event(
    store: ArticleStore, writer: StreamWriter
) -> None:
    aid = store.create_article("not a url", "test")
    store.mark_failed(aid, Stage.FETCH, "invalid_url: no host")
    relay(store, writer)
    [envelope] = entries(writer.client, writer.stream)
    assert envelope["type"] == "newsflow.article.failed"
    assert envelope["data"]["reason"] == "invalid_url: no host"


def test_the_cursor_never_moves_from_a_position_it_is_no_longer_at(store: ArticleStore) -> None:
    outbox = EventOutbox(store.engine)
    start = outbox.position()
    assert outbox.advance(start, Position(start.txid, start.event_id + 5))
    assert not outbox.advance(start, Position(start.txid, start.event_id + 9))
    assert outbox.position() == Position(start.txid, start.event_id + 5)


def test_a_new_store_starts_the_stream_from_now(sqlite_url: str, writer: StreamWriter) -> None:
    store = open_store(sqlite_url)
    try:
        assert EventOutbox(store.engine).position().event_id == 0
        articles.stored(store, "a1")
        assert relay(store, writer) == 1
    finally:
        store.engine.dispose()


@pytest.mark.postgres
def test_on_postgres_a_lower_event_id_committed_late_is_not_stepped_over(
    postgres_url: str, writer: StreamWriter
) -> None:
    """PostgreSQL hands out event ids at insert: a transaction holding id N may commit after
    N+1 was committed and could be read. The relay waits for it instead of passing it."""
    store = open_store(postgres_url)
    try:
        articles.fetch_and_clean(store, "slow", "https://news.example/slow", "Slow")
        articles.fetch_and_clean(store, "fast", "https://news.example/fast", "Fast")
        outbox = EventOutbox(store.engine)
        slow = store.engine.connect()
        tx = slow.begin()
        slow.execute(text("UPDATE articles SET status = 'stored' WHERE id = 'slow'"))
        slow.execute(insert(Event), [_stored_row("slow")])  # takes id N, not committed
        articles.failed(store, "late")  # id N+1, committed
        assert relay(store, writer) == 0  # N is not settled: nothing after it either
        assert outbox.undelivered() == 1  # only the committed one is visible
        tx.commit()
        slow.close()
        assert relay(store, writer) == 2
        assert [e["subject"] for e in entries(writer.client, writer.stream)] == ["slow", "late"]
    finally:
        store.engine.dispose()


def _stored_row(article_id: str) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "event": "article_stored",
        "stage": "classify",
        "outcome": "stored",
        "attempt": 1,
        "worker": "",
        "detail": {},
        "at": articles.NOW,
    }


def test_max_age_drops_entries_older_than_it(redis_client: redis.Redis, key_prefix: str) -> None:
    stream = f"{key_prefix}:events"
    redis_client.xadd(stream, {"event": "{}"}, id="1-0")  # an entry from 1970
    StreamWriter(redis_client, stream, maxlen=0, max_age_s=3600).publish([{"type": "t", "id": "x"}])
    ids = [i for i, _ in redis_client.xrange(stream)]
    assert b"1-0" not in ids
    assert len(ids) == 1


def test_maxlen_keeps_the_stream_near_its_length(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    stream = f"{key_prefix}:events"
    writer = StreamWriter(redis_client, stream, maxlen=10, max_age_s=0)
    writer.publish([{"type": "t", "id": str(n)} for n in range(1000)])
    # Approximate trimming (MAXLEN ~) drops whole nodes of 100 entries: at most one node over.
    assert 10 <= redis_client.xlen(stream) <= 110


def test_one_relay_acts_at_a_time(redis_client: redis.Redis, key_prefix: str) -> None:
    first = RelayLock(redis_client, f"{key_prefix}:relay", "one", ttl_s=5)
    second = RelayLock(redis_client, f"{key_prefix}:relay", "two", ttl_s=5)
    assert first.hold()
    assert not second.hold()
    assert first.hold()  # renewed by its holder
    redis_client.delete(f"{key_prefix}:relay")  # the holder died and its lock expired
    assert second.hold()


def test_concurrent_writers_lose_no_event_and_repeat_none(
    store: ArticleStore, writer: StreamWriter
) -> None:
    """Eight threads end articles in their own transactions while the relay runs: commits
    interleave with reads (out of id order on PostgreSQL), and every end is sent exactly once."""
    import threading

    def end_articles(worker: int) -> None:
        for n in range(25):
            aid = store.create_article(f"https://news.example/{worker}/{n}", "test")
            store.mark_failed(aid, Stage.FETCH, "invalid_url: test")

    writers = [threading.Thread(target=end_articles, args=(w,)) for w in range(8)]
    for thread in writers:
        thread.start()
    while any(t.is_alive() for t in writers):
        relay(store, writer, limit=7)
    while relay(store, writer, limit=7) or EventOutbox(store.engine).undelivered():
        pass
    ids = [e["id"] for e in entries(writer.client, writer.stream)]
    assert len(ids) == 200
    assert len(set(ids)) == 200
