"""The article store: the source of truth every stage writes to.

The status-move contract is tested against the real store on SQLite and PostgreSQL and against
the in-memory store the runner's tests use (tests/fakes.py), so the fake cannot drift from the
real thing. The rest (pages, replay, the reconciler's query) against the real store.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.fakes import MemoryStore
from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.pipeline import Stage, Status
from workers.store import ArticleStore, EventRecord, open_store

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PAGE = FetchedPage(
    url="https://news.example/a",
    final_url="https://news.example/a?final",
    status=200,
    content_type="text/html",
    encoding="utf-8",
    html="<html><body><p>story</p></body></html>",
    fetched_at=NOW,
)
CLEANED = CleanedArticle(title="A story", text="First paragraph.\n\nSecond.", language="en")


def event(article_id: str, name: str = "article_fetched") -> EventRecord:
    return EventRecord(article_id=article_id, event=name, stage="fetch", outcome="ok", at=NOW)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Any]:
    """The contract's subjects: the in-memory fake and the real store."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    real = open_store(url)
    yield real
    real.engine.dispose()


def new_article(store: Any, article_id: str = "a1") -> str:
    if isinstance(store, MemoryStore):
        store.add(article_id, "https://news.example/a")
    else:
        store.create_article("https://news.example/a", "test", article_id)
    return article_id


def status_of(store: Any, article_id: str) -> str:
    if isinstance(store, MemoryStore):
        return store.articles[article_id].status.value
    return str(store.status_of(article_id))


# --- the contract -------------------------------------------------------------------------------


def test_a_stage_result_moves_the_article_on_once(any_store: Any) -> None:
    aid = new_article(any_store)
    first = any_store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid)])
    second = any_store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid)])
    assert (first, second) == (True, False)
    assert status_of(any_store, aid) == "fetched"


def test_a_stage_cannot_save_for_an_article_waiting_for_another_stage(any_store: Any) -> None:
    aid = new_article(any_store)
    assert not any_store.complete_stage(aid, Stage.CLEAN, CLEANED, Status.CLEANED, [])
    assert status_of(any_store, aid) == "queued"


def test_retries_count_up_and_keep_the_article_where_it_is(any_store: Any) -> None:
    aid = new_article(any_store)
    assert any_store.record_retry(aid, Stage.FETCH, "http_503", NOW, [])
    assert any_store.record_retry(aid, Stage.FETCH, "http_503", NOW, [])
    assert any_store.load_input(aid, Stage.FETCH).attempts == 2
    assert status_of(any_store, aid) == "queued"


def test_moving_on_resets_the_retry_count(any_store: Any) -> None:
    aid = new_article(any_store)
    any_store.record_retry(aid, Stage.FETCH, "timeout", NOW, [])
    any_store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    assert any_store.load_input(aid, Stage.CLEAN).attempts == 0


@pytest.mark.parametrize("ending", [Status.FAILED, Status.SKIPPED])
def test_an_article_ends_failed_or_skipped_once(any_store: Any, ending: Status) -> None:
    aid = new_article(any_store)
    assert any_store.finish(aid, Stage.FETCH, ending, "why", [])
    assert not any_store.finish(aid, Stage.FETCH, ending, "why again", [])
    assert not any_store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    assert status_of(any_store, aid) == ending.value


# --- the real store ------------------------------------------------------------------------------


def test_the_result_the_status_and_the_events_are_saved_together(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid)])
    inp = store.load_input(aid, Stage.CLEAN)
    assert inp is not None
    assert inp.page is not None
    assert (inp.page.html, inp.page.final_url) == (PAGE.html, PAGE.final_url)
    assert [e.event for e in store.events(aid)] == ["article_fetched"]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_store_opens_with_a_threaded_workers_pool(url: str) -> None:
    """Such a database lives in one connection per thread, a pool that takes no sizes: asking
    for a connection per thread must not stop it opening."""
    memory = open_store(url, threads=16)
    try:
        aid = memory.create_article("https://news.example/a", "test")
        assert memory.load_input(aid, Stage.FETCH) is not None
    finally:
        memory.engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_a_stage_reads_and_writes_in_one_round_trip_each(
    postgres_url: str, tmp_path: Path
) -> None:
    """A stage's input is one SELECT and its write (status, page and events) one statement,
    each in autocommit: no BEGIN, COMMIT or ROLLBACK. Seen in libpq's trace of the connection,
    where the server ends every round trip with a ReadyForQuery saying whether a transaction
    is still open (T) or not (I)."""
    from psycopg import pq

    real = open_store(postgres_url)
    trace = tmp_path / "libpq.trace"
    try:
        aid = real.create_article("https://news.example/a", "test")
        with real.engine.connect() as conn:
            pgconn = conn.connection.dbapi_connection.pgconn  # the pool's one connection
        assert real.engine.pool.checkedin() == 1
        with trace.open("w") as out:
            pgconn.trace(out.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            assert real.load_input(aid, Stage.FETCH) is not None
            events = [event(aid), event(aid, "article_stored")]
            assert real.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, events)
            pgconn.untrace()  # flushes the trace
    finally:
        real.engine.dispose()
    # One message a line, "F" (to the server) or "B", its length, type and fields; a statement's
    # own line breaks continue it on lines of their own.
    lines = (line.split("\t", 3) for line in trace.read_text().splitlines())
    messages = [m for m in lines if len(m) == 4 and m[0] in ("F", "B")]
    sent = [m[3].split('"')[3 if m[2] == "Parse" else 1] for m in messages if m[2] in _STATEMENT]
    ready = [m[3].strip() for m in messages if m[2] == "ReadyForQuery"]
    assert [sql.split(None, 1)[0] for sql in sent] == ["SELECT", "WITH"]
    assert ready == ["I", "I"]


# The protocol messages that carry a statement: a simple query, or the extended protocol's Parse.
_STATEMENT = {"Query", "Parse"}


@pytest.mark.postgres
def test_on_postgresql_pages_and_texts_are_compressed_with_lz4(postgres_url: str) -> None:
    """pglz cost the server ~6 ms of CPU per real page, more than fetching it (migration 0005):
    a large page and text are stored with lz4, and read back whole."""
    migration = importlib.import_module(
        "workers.store.migrations.versions.0005_lz4_for_pages_and_texts"
    )
    real = open_store(postgres_url)
    html = "<html><body>" + "".join(f"<p>paragraph {i} of a story</p>" for i in range(3000))
    text_ = "\n\n".join(f"Paragraph {i} of the story." for i in range(1000))
    try:
        with real.engine.connect() as conn:
            if not migration.lz4_available(conn):
                pytest.skip("this PostgreSQL server was built without lz4: pglz stays")
        aid = real.create_article("https://news.example/a", "test")
        real.complete_stage(aid, Stage.FETCH, replace(PAGE, html=html), Status.FETCHED, [])
        cleaned = replace(CLEANED, text=text_)
        real.complete_stage(aid, Stage.CLEAN, cleaned, Status.CLEANED, [])
        with real.engine.connect() as conn:
            methods = conn.execute(
                text(
                    "SELECT pg_column_compression(p.html), pg_column_compression(a.text) "
                    "FROM pages p JOIN articles a ON a.id = p.article_id"
                )
            ).one()
        inp = real.load_input(aid, Stage.DEDUP)
    finally:
        real.engine.dispose()
    assert tuple(methods) == ("lz4", "lz4")
    assert inp is not None
    assert inp.cleaned is not None
    assert inp.cleaned.text == text_


@pytest.mark.postgres
def test_on_postgresql_the_events_of_one_write_carry_its_transaction_id(postgres_url: str) -> None:
    """The event relay reads rows in (txid, id) order up to the oldest running transaction
    (workers/store/outbox.py): every row needs the id of the transaction that wrote it."""
    real = open_store(postgres_url)
    try:
        aid = real.create_article("https://news.example/a", "test")
        real.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid), event(aid)])
        real.complete_stage(aid, Stage.CLEAN, CLEANED, Status.CLEANED, [event(aid)])
        with real.engine.connect() as conn:
            txids = conn.execute(text("SELECT txid FROM events ORDER BY id")).scalars().all()
    finally:
        real.engine.dispose()
    assert None not in txids
    assert txids[0] == txids[1] < txids[2]


@pytest.mark.postgres
def test_on_postgresql_a_write_that_waited_for_another_delivery_writes_nothing(
    postgres_url: str,
) -> None:
    """Two deliveries of one stage at once: the second write waits for the row the first one
    moved, then finds the status moved on (READ COMMITTED checks the row again) and writes
    neither its page nor its events, which are parts of the same statement."""
    real = open_store(postgres_url)
    try:
        aid = real.create_article("https://news.example/a", "test")
        with real.engine.connect() as first:
            move = text("UPDATE articles SET status = 'fetched' WHERE id = :id")
            first.execute(move, {"id": aid})  # the first delivery's move, not yet committed
            saved: list[bool] = []
            second = threading.Thread(
                target=lambda: saved.append(
                    real.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid)])
                )
            )
            second.start()
            wait_for_a_lock_wait(real)
            first.commit()
        second.join(timeout=30)
        assert saved == [False]
        assert real.events(aid) == []
        with real.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pages")).scalar_one() == 0
    finally:
        real.engine.dispose()


def wait_for_a_lock_wait(store: ArticleStore, timeout_s: float = 30.0) -> None:
    """Until a session of this database waits for a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.01)
    pytest.fail("no session waited for the lock")


def test_a_stage_write_is_all_or_nothing(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    broken = replace(event(aid), event=cast(str, None))  # the events table refuses it
    with pytest.raises(IntegrityError):
        store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid), broken])
    assert store.status_of(aid) == "queued"
    assert store.events(aid) == []
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pages")).scalar_one() == 0


def test_a_batch_of_inputs_is_read_at_once_and_only_whole_inputs_are_given(
    store: ArticleStore,
) -> None:
    """`load_inputs` gives what `load_input` gives, for the articles it can; the runner reads
    the rest alone (unknown, or waiting for clean without a stored page: LookupError then)."""
    fetched = [store.create_article(f"https://news.example/{i}", "test") for i in range(3)]
    for aid in fetched:
        store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    pageless = store.create_article("https://news.example/pageless", "test")
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE articles SET status = 'fetched' WHERE id = :id"), {"id": pageless}
        )
    inputs = store.load_inputs([*fetched, pageless, "unknown"], Stage.CLEAN)
    assert sorted(inputs) == sorted(fetched)
    assert all(inputs[aid] == store.load_input(aid, Stage.CLEAN) for aid in fetched)
    with pytest.raises(LookupError):
        store.load_input(pageless, Stage.CLEAN)


def test_events_are_recorded_in_the_order_given(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    names = ["article_fetched", "b_second", "a_third"]
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid, n) for n in names])
    assert [e.event for e in store.events(aid)] == names


def test_a_refused_move_writes_no_events(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid)])
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [event(aid, "again")])
    assert [e.event for e in store.events(aid)] == ["article_fetched"]


def test_a_refused_move_writes_no_page(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    late = replace(PAGE, html="<html><body><p>a later copy</p></body></html>")
    assert not store.complete_stage(aid, Stage.FETCH, late, Status.FETCHED, [])
    inp = store.load_input(aid, Stage.CLEAN)
    assert inp is not None
    assert inp.page is not None
    assert inp.page.html == PAGE.html


def test_a_replayed_fetch_replaces_the_page_it_stored_before(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    store.mark_failed(aid, Stage.FETCH, "operator: fetch again")
    assert store.reset_for_replay(aid, Status.FAILED) is Stage.FETCH
    again = replace(PAGE, html="<html><body><p>the story, updated</p></body></html>")
    assert store.complete_stage(aid, Stage.FETCH, again, Status.FETCHED, [])
    inp = store.load_input(aid, Stage.CLEAN)
    assert inp is not None
    assert inp.page is not None
    assert inp.page.html == again.html


def test_classify_keeps_the_language_the_clean_stage_found(store: ArticleStore) -> None:
    aid = cleaned_article(store, language="en")
    store.complete_stage(aid, Stage.CLASSIFY, labelled("fr"), Status.STORED, [])
    record = store.get(aid)
    assert record is not None
    assert (record.status, record.label, record.language) == ("stored", "world", "en")


def test_classify_fills_in_the_language_where_the_clean_stage_found_none(
    store: ArticleStore,
) -> None:
    aid = cleaned_article(store, language=None)
    store.complete_stage(aid, Stage.CLASSIFY, labelled("fr"), Status.STORED, [])
    record = store.get(aid)
    assert record is not None
    assert (record.status, record.label, record.language) == ("stored", "world", "fr")


def cleaned_article(store: ArticleStore, language: str | None) -> str:
    """An article deduplicated (not a duplicate) and so waiting for classify."""
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    cleaned = replace(CLEANED, language=language)
    store.complete_stage(aid, Stage.CLEAN, cleaned, Status.CLEANED, [])
    store.complete_stage(aid, Stage.DEDUP, DedupVerdict(False, "c1"), Status.DEDUPLICATED, [])
    return aid


def labelled(language: str) -> Classification:
    return Classification(label="world", confidence=0.9, language=language, model_version="t")


def test_dedup_and_classify_start_from_the_cleaned_text(store: ArticleStore) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    store.complete_stage(aid, Stage.CLEAN, CLEANED, Status.CLEANED, [])
    inp = store.load_input(aid, Stage.DEDUP)
    assert inp is not None
    assert inp.cleaned is not None
    assert inp.cleaned.text == CLEANED.text
    verdict = DedupVerdict(True, "c0", duplicate_of="a0", level="exact")
    store.complete_stage(aid, Stage.DEDUP, verdict, Status.DUPLICATE, [])
    record = store.get(aid)
    assert record is not None
    assert (record.status, record.duplicate_of) == ("duplicate", "a0")
    assert record.status_reason == "duplicate of a0 (exact)"


def test_replay_puts_a_failed_article_back_before_its_stage_with_a_fresh_budget(
    store: ArticleStore,
) -> None:
    aid = store.create_article("https://news.example/a", "test")
    store.complete_stage(aid, Stage.FETCH, PAGE, Status.FETCHED, [])
    store.record_retry(aid, Stage.CLEAN, "time_limit", NOW, [])
    store.finish(aid, Stage.CLEAN, Status.FAILED, "gave up", [])
    assert store.reset_for_replay(aid, Status.SKIPPED) is None  # it is not skipped
    assert store.reset_for_replay(aid, Status.FAILED) is Stage.CLEAN
    record = store.get(aid)
    assert record is not None
    assert (record.status, record.attempts, record.status_reason) == ("fetched", 0, None)


def test_pending_articles_overdue_are_listed_oldest_first_in_pages(store: ArticleStore) -> None:
    ids = [store.create_article(f"https://news.example/{n}", "test") for n in range(5)]
    for n, aid in enumerate(ids):
        store.record_deferral(aid, Stage.FETCH, NOW - timedelta(minutes=10 - n), [])
    store.finish(ids[0], Stage.FETCH, Status.FAILED, "gone", [])  # finished: not pending
    store.record_deferral(ids[4], Stage.FETCH, NOW + timedelta(hours=1), [])  # due later
    first = store.pending_due_before(NOW, limit=2)
    rest = store.pending_due_before(NOW, limit=10, after=(first[-1].due_at, first[-1].id))
    assert [p.id for p in first + rest] == ids[1:4]
    assert {p.status for p in first + rest} == {"queued"}


def test_creating_articles_twice_keeps_the_first(store: ArticleStore) -> None:
    store.create_articles([("a1", "https://news.example/a")], "feed")
    store.complete_stage("a1", Stage.FETCH, PAGE, Status.FETCHED, [])
    store.create_articles([("a1", "https://news.example/a"), ("a2", "https://x.example/")], "f")
    assert store.status_of("a1") == "fetched"
    assert store.status_of("a2") == "queued"


def test_only_articles_still_queued_are_withdrawn(store: ArticleStore) -> None:
    store.create_articles([("a1", "https://a.example/"), ("a2", "https://b.example/")], "f")
    store.complete_stage("a1", Stage.FETCH, PAGE, Status.FETCHED, [])
    assert store.delete_queued(["a1", "a2"]) == 1
    assert store.status_of("a1") == "fetched"
    assert store.status_of("a2") is None


def test_the_pending_summary_counts_pending_articles_by_status(store: ArticleStore) -> None:
    for n in range(3):
        store.create_article(f"https://news.example/{n}", "test", f"a{n}")
    store.complete_stage("a0", Stage.FETCH, PAGE, Status.FETCHED, [])
    summary = store.pending_summary()
    assert {k: v[0] for k, v in summary.items()} == {"queued": 2, "fetched": 1}
