"""The Prometheus collector: stage metrics folded from the events table (no write per event),
queue, worker, crawl, feed and scheduler metrics read at scrape time, and a scrape that never
fails because Redis or the database is down.

Real Redis, real SQLite store, real stage steps through the real runner (tests/stage_harness.py);
the exposition is parsed back with prometheus_client's own parser.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from tests.stage_harness import NOT_AN_ARTICLE, STORIES, Pipeline, page_url, sample_pages
from workers.adapters.stage_guard import Heartbeat, alive_key, heartbeats_key
from workers.metrics import NewsflowCollector
from workers.observe import stage_window
from workers.pipeline import QUEUES, Stage
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
from workers.store.events import GAP_TTL_S, EventCursor, EventRow
from workers.store.feeds import FeedSpec

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(collector: NewsflowCollector) -> Samples:
    """Every sample of one scrape, by sample name (counters keep their `_total`)."""
    registry = CollectorRegistry()
    registry.register(collector)
    samples: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of `name` with exactly these labels (0 when absent, as for a counter
    that never counted)."""
    found = [v for lab, v in samples.get(name, []) if lab == labels]
    assert len(found) <= 1
    return found[0] if found else 0.0


@pytest.fixture
def svc(
    settings: Settings, redis_client: redis.Redis, make_services: Callable[[Settings], Services]
) -> Services:
    return make_services(settings)


@pytest.fixture
def pipeline(svc: Services, redis_client: redis.Redis, key_prefix: str) -> Pipeline:
    return Pipeline(svc.store, redis_client, key_prefix)


@pytest.fixture
def broker(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The test database's Celery queue keys (unprefixed, as kombu names them), empty before
    and after the test."""
    keys = [*QUEUES, "unacked", "unacked_index"]
    redis_client.delete(*keys)
    yield redis_client
    redis_client.delete(*keys)


# --- stage metrics from the events table --------------------------------------------------------


def test_each_deliverys_queue_wait_is_counted_once(svc: Services, pipeline: Pipeline) -> None:
    """The classify delivery writes two events (article_classified, article_stored); its wait
    is counted once, in the histogram, in `newsflow status`, and in the events table."""
    waits = {Stage.FETCH: 0.2, Stage.CLEAN: 0.3, Stage.DEDUP: 0.05, Stage.CLASSIFY: 1.252}
    [article_id] = pipeline.ingest([page_url(STORIES[0])])
    pipeline.drain(waits)
    assert svc.store.status_of(article_id) == "stored"

    classify_events = [e for e in svc.store.events(article_id) if e.stage == "classify"]
    assert [(e.event, e.queue_wait_ms) for e in classify_events] == [
        ("article_classified", 1252.0),
        ("article_stored", None),
    ]
    samples = scrape(NewsflowCollector(svc, from_start=True))
    for stage, wait in waits.items():
        assert value(samples, "newsflow_queue_wait_seconds_count", stage=stage.value) == 1
        assert value(samples, "newsflow_queue_wait_seconds_sum", stage=stage.value) == (
            pytest.approx(wait)
        )
        assert value(samples, "newsflow_stage_duration_seconds_count", stage=stage.value) == 1
    status = stage_window(svc.events.recent(datetime.now(UTC) - timedelta(minutes=5)), 300)
    assert status["classify"]["queue_wait_ms"]["n"] == 1
    assert status["classify"]["queue_wait_ms"]["p50"] == 1252.0
    assert status["classify"]["mean_queue_wait_ms"] == 1252.0


def test_a_deferred_and_a_retried_delivery_each_count_their_own_wait(
    svc: Services, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Two deliveries of one fetch (a 503, then its retry): two waits, two durations."""
    pages = sample_pages()
    url = page_url("flaky.html")
    pipeline = Pipeline(svc.store, redis_client, key_prefix, pages)
    [article_id] = pipeline.ingest([url])
    pipeline.drain({Stage.FETCH: 2.0})
    pages[url] = pages[page_url(STORIES[0])]
    pipeline.queue.send(Stage.FETCH, article_id)  # the dispatcher's resend, when due
    pipeline.drain({Stage.FETCH: 3.0})
    samples = scrape(NewsflowCollector(svc, from_start=True))
    assert value(samples, "newsflow_queue_wait_seconds_count", stage="fetch") == 2
    assert value(samples, "newsflow_queue_wait_seconds_sum", stage="fetch") == pytest.approx(5.0)
    assert value(samples, "newsflow_stage_events_total", stage="fetch", outcome="retry") == 1
    assert value(samples, "newsflow_stage_events_total", stage="fetch", outcome="ok") == 1


def test_counting_starts_at_the_newest_event_and_adds_what_commits_later(
    svc: Services, pipeline: Pipeline
) -> None:
    pipeline.ingest([page_url(STORIES[0])])
    pipeline.drain()
    collector = NewsflowCollector(svc)
    first = scrape(collector)
    assert value(first, "newsflow_stage_events_total", stage="fetch", outcome="ok") == 0
    assert value(first, "newsflow_stage_duration_seconds_count", stage="fetch") == 0

    pipeline.ingest([page_url(STORIES[1])])
    pipeline.drain()
    second = scrape(collector)
    assert value(second, "newsflow_stage_events_total", stage="fetch", outcome="ok") == 1
    assert value(second, "newsflow_stage_events_total", stage="classify", outcome="stored") == 1
    third = scrape(collector)  # nothing new: the same totals, nothing counted twice
    assert third["newsflow_stage_events_total"] == second["newsflow_stage_events_total"]
    assert value(third, "newsflow_collector_events_behind") == 0


def test_outcomes_and_what_the_events_say_are_counted(
    svc: Services, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Three stories, a copy of one under another URL, a section front, a 404 and a 503."""
    sample = sample_pages()
    copy_url = "https://mirror.example/bridge-copy"
    sample[copy_url] = sample[page_url(STORIES[0])]
    pipeline = Pipeline(svc.store, redis_client, key_prefix, sample)
    urls = [page_url(name) for name in (*STORIES, NOT_AN_ARTICLE, "gone.html", "flaky.html")]
    pipeline.ingest([*urls, copy_url])
    pipeline.drain()
    samples = scrape(NewsflowCollector(svc, from_start=True))

    def events(stage: str, outcome: str) -> float:
        return value(samples, "newsflow_stage_events_total", stage=stage, outcome=outcome)

    assert events("fetch", "ok") == 5
    assert events("fetch", "quarantined") == 1
    assert events("fetch", "retry") == 1
    assert events("clean", "skipped") == 1
    assert events("dedup", "duplicate") == 1
    assert events("classify", "stored") == 3
    assert value(samples, "newsflow_fetch_responses_total", code="200") == 5
    assert value(samples, "newsflow_fetch_responses_total", code="404") == 1
    assert value(samples, "newsflow_fetch_responses_total", code="503") == 1
    fetched = sum(len(sample[u][1].encode()) for u in urls if sample[u][0] == 200)
    fetched += len(sample[copy_url][1].encode())
    assert value(samples, "newsflow_fetch_bytes_total") == fetched
    assert (
        value(samples, "newsflow_articles_quarantined_total", stage="fetch", reason="http_404") == 1
    )
    assert value(samples, "newsflow_dedup_verdicts_total", outcome="duplicate", level="url") == 1
    assert value(samples, "newsflow_dedup_verdicts_total", outcome="new", level="none") == 3
    by_language = {
        lab["language"]: v
        for lab, v in samples["newsflow_articles_classified_total"]
        if lab["label"] == "world"
    }
    assert by_language == {"en": 1, "de": 1, "es": 1}
    assert value(samples, "newsflow_articles", status="stored") == 3
    # Every stage's histograms have their buckets from 10 ms to 5 min.
    buckets = {
        lab["le"]
        for lab, _ in samples["newsflow_stage_duration_seconds_bucket"]
        if lab["stage"] == "clean"
    }
    assert {"0.01", "300.0", "+Inf"} <= buckets


def test_the_reconcilers_recoveries_are_counted_from_its_events(svc: Services) -> None:
    from workers.store.repository import EventRecord

    collector = NewsflowCollector(svc)
    scrape(collector)
    article_id = svc.store.create_article("https://news.example/lost")
    event = EventRecord(
        article_id, "article_recovered", "fetch", "recovered", datetime.now(UTC), worker="s"
    )
    svc.store.mark_resent([(article_id, "queued")], [event])
    samples = scrape(collector)
    assert value(samples, "newsflow_articles_recovered_total", stage="fetch") == 1


def rows(*ids: int) -> list[EventRow]:
    at = datetime.now(UTC)
    return [EventRow(i, "article_fetched", "fetch", "ok", 1.0, 1.0, {}, at) for i in ids]


class TableView:
    """The rows a reader can see: committed ones only."""

    def __init__(self) -> None:
        self.visible: list[EventRow] = []

    def after(self, last_id: int, limit: int) -> list[EventRow]:
        return [r for r in self.visible if r.id > last_id][:limit]

    def by_ids(self, ids: object) -> list[EventRow]:
        wanted = set(ids)  # type: ignore[call-overload]
        return [r for r in self.visible if r.id in wanted]


def test_an_event_that_commits_after_a_later_one_is_counted_once() -> None:
    """On PostgreSQL ids are handed out at insert and become visible at commit: 4 can be seen
    before 3. The cursor remembers the hole and counts 3 when it appears, once."""
    table = TableView()
    folded: list[int] = []
    cursor = EventCursor(0)
    table.visible = rows(1, 2, 4)
    cursor.advance(table, lambda r: folded.append(r.id), clock=lambda: 0.0)  # type: ignore[arg-type]
    table.visible = sorted([*rows(3), *table.visible, *rows(5)], key=lambda r: r.id)
    cursor.advance(table, lambda r: folded.append(r.id), clock=lambda: 1.0)  # type: ignore[arg-type]
    cursor.advance(table, lambda r: folded.append(r.id), clock=lambda: 2.0)  # type: ignore[arg-type]
    assert sorted(folded) == [1, 2, 3, 4, 5]


def test_a_hole_that_never_fills_is_forgotten() -> None:
    """A rolled-back transaction's id never appears: after GAP_TTL_S it is no longer looked up."""
    table = TableView()
    table.visible = rows(1, 3)
    cursor = EventCursor(0)
    cursor.advance(table, lambda r: None, clock=lambda: 0.0)  # type: ignore[arg-type]
    assert set(cursor.gaps) == {2}
    cursor.advance(table, lambda r: None, clock=lambda: GAP_TTL_S + 1)  # type: ignore[arg-type]
    assert cursor.gaps == {}


# --- queues, workers, the scheduler, crawls, feeds ------------------------------------------------


def test_queue_depth_oldest_message_age_and_unacked_per_queue(
    svc: Services, broker: redis.Redis, settings: Settings, make_celery: Callable[..., Celery]
) -> None:
    """Real kombu messages sent by our publisher: the oldest message's publish time is its
    `enqueued_at` header."""
    publisher = CeleryPublisher(make_celery(settings))
    for n in range(3):
        publisher.send(Stage.CLEAN, f"a{n}")
    raw = broker.lindex("clean", 0)
    broker.hset("unacked", "tag-1", json.dumps([json.loads(raw or b"{}"), "", "classify"]))
    later = time.time() + 2400  # scraped 40 minutes after they were sent
    samples = scrape(NewsflowCollector(svc, clock=lambda: later))
    assert value(samples, "newsflow_queue_depth", queue="clean") == 3
    assert value(samples, "newsflow_queue_depth", queue="fetch") == 0
    assert value(
        samples, "newsflow_queue_oldest_message_age_seconds", queue="clean"
    ) == pytest.approx(2400, abs=5)
    assert value(samples, "newsflow_queue_oldest_message_age_seconds", queue="fetch") == 0
    assert value(samples, "newsflow_messages_unacked", queue="classify") == 1
    assert value(samples, "newsflow_messages_unacked", queue="clean") == 0


def test_workers_per_queue_come_from_the_heartbeats(
    svc: Services, redis_client: redis.Redis, key_prefix: str
) -> None:
    Heartbeat(redis_client, key_prefix, queues=["clean"], node="clean.1@host-a").beat()
    # Two pool processes of one worker on another machine, and a worker that predates the
    # queues in its heartbeat (it names none).
    for process, payload in (
        ("host-b:7", {"queues": ["clean"], "node": "clean.2@host-b"}),
        ("host-b:8", {"queues": ["clean"], "node": "clean.2@host-b"}),
        ("host-c:9", 1),
    ):
        redis_client.set(alive_key(key_prefix, process), json.dumps(payload), ex=30)
        redis_client.zadd(heartbeats_key(key_prefix), {process: time.time()})
    samples = scrape(NewsflowCollector(svc))
    assert value(samples, "newsflow_queue_workers", queue="clean") == 2
    assert value(samples, "newsflow_queue_worker_processes", queue="clean") == 3
    assert value(samples, "newsflow_queue_workers", queue="fetch") == 0


def test_scheduler_tick_crawls_and_feed_health(svc: Services) -> None:
    svc.redis.set(svc.key("scheduler", "last_tick"), "1900000000.5")
    svc.crawl_counters.record("ok", found=40, new=12, seen=28)
    svc.crawl_counters.record("not_modified")
    svc.crawl_counters.record("failed")
    for n in range(4):
        svc.feeds.upsert(FeedSpec(url=f"https://feeds.example/{n}.xml", kind="rss", interval_s=600))
    svc.feeds.record_failure("https://feeds.example/0.xml", "http_500: boom")
    for _ in range(10):
        svc.feeds.record_failure("https://feeds.example/1.xml", "http_404: gone")
    # Feed 2 was due an hour ago and nobody polled it; feed 3 is due now.
    svc.feeds.postpone("https://feeds.example/3.xml", time.time() + 60, "test")
    with svc.feeds._session() as s:
        from workers.store.schema import Feed

        row = s.get(Feed, "https://feeds.example/2.xml")
        assert row is not None
        row.next_due_at = datetime.now(UTC) - timedelta(hours=1)
    samples = scrape(NewsflowCollector(svc))
    assert value(samples, "newsflow_scheduler_last_tick_timestamp_seconds") == 1900000000.5
    assert value(samples, "newsflow_feed_crawls_total", outcome="ok") == 1
    assert value(samples, "newsflow_feed_crawls_total", outcome="not_modified") == 1
    assert value(samples, "newsflow_feed_crawls_total", outcome="failed") == 1
    assert value(samples, "newsflow_feed_crawls_total", outcome="incomplete") == 0
    assert value(samples, "newsflow_feed_entries_found_total") == 40
    assert value(samples, "newsflow_feed_entries_new_total") == 12
    assert value(samples, "newsflow_feeds", state="total") == 4
    assert value(samples, "newsflow_feeds", state="disabled") == 1
    assert value(samples, "newsflow_feeds", state="failing") == 1
    assert value(samples, "newsflow_feeds", state="overdue") == 1


# --- dependencies down ----------------------------------------------------------------------------


def test_with_redis_down_the_scrape_says_so_and_serves_the_rest(
    settings: Settings, make_services: Callable[[Settings], Services]
) -> None:
    svc = make_services(settings.with_overrides(redis_url="redis://127.0.0.1:1/0"))
    svc.store.create_article("https://news.example/a")
    samples = scrape(NewsflowCollector(svc))
    assert value(samples, "newsflow_redis_up") == 0
    assert value(samples, "newsflow_database_up") == 1
    assert value(samples, "newsflow_articles", status="queued") == 1
    assert value(samples, "newsflow_collector_errors", part="queues") == 1
    assert "newsflow_queue_depth" not in samples


def test_with_the_database_down_the_scrape_says_so_and_keeps_its_counts(
    svc: Services, pipeline: Pipeline, settings: Settings
) -> None:
    collector = NewsflowCollector(svc)
    scrape(collector)
    pipeline.ingest([page_url(STORIES[0])])
    pipeline.drain()
    assert value(scrape(collector), "newsflow_stage_events_total", stage="dedup", outcome="new")
    svc.store.engine.dispose()
    svc.__dict__["store"] = _unreachable_store(settings)
    samples = scrape(collector)
    assert value(samples, "newsflow_database_up") == 0
    assert value(samples, "newsflow_redis_up") == 1
    assert value(samples, "newsflow_stage_events_total", stage="dedup", outcome="new") == 1
    assert value(samples, "newsflow_queue_depth", queue="clean") == 0
    assert value(samples, "newsflow_collector_errors", part="articles") == 1


def _unreachable_store(settings: Settings) -> object:
    from workers.store import ArticleStore
    from workers.store.repository import make_engine

    # A PostgreSQL URL on a port where nothing listens: every connect fails at once.
    return ArticleStore(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
