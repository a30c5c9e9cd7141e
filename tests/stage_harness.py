"""The real stage steps and the real store, driven through the real runner without Celery.

`Pipeline` wires `workers.runner.StageRunner` to an `ArticleStore` (SQLite or PostgreSQL), the
real step functions (`workers.steps.build_steps`: the real clean stage on real pages, the real
Redis dedup index) and in-memory queue, guard and deferrals (tests/fakes.py). Only the network
and the classifier model are canned (`StaticFetcher`, `FixedClassifier`). Each message's time
in its queue is set per stage, so what the events record is known in advance.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import update

from tests.fakes import (
    FixedClassifier,
    MemoryDeferrals,
    MemoryGuard,
    MemoryQueue,
    StageServices,
    StaticFetcher,
)
from workers.adapters.dedup_index import RedisDedupIndex
from workers.adapters.stage_guard import Heartbeat
from workers.pipeline import Stage
from workers.runner import Delivery, RetryPolicy, StageOutcome, StageRunner
from workers.services import Services
from workers.steps import build_steps
from workers.store import ArticleStore
from workers.store.feeds import FeedSpec
from workers.store.repository import EventRecord, utcnow
from workers.store.schema import Article
from workers.tracing import RECOVERED, Tracer

PAGES = Path(__file__).parent / "pages" / "html"
NOW = 1_900_000_000.0
WORKER = "stage@test-host"

# Real pages from tests/pages: three stories (English, German, Spanish), a section front (not
# an article: skipped) and a missing page (404: quarantined).
STORIES = ("radio_news_bridge.html", "stadtblatt_de.html", "diario_jsonld_es.html")
NOT_AN_ARTICLE = "section_front.html"


def page_url(name: str) -> str:
    return f"https://news.example/{name.removesuffix('.html')}"


def sample_pages() -> dict[str, tuple[int, str]]:
    pages = {
        page_url(name): (200, (PAGES / name).read_text(encoding="utf-8"))
        for name in (*STORIES, NOT_AN_ARTICLE)
    }
    pages[page_url("gone.html")] = (404, "")
    pages[page_url("flaky.html")] = (503, "")
    return pages


class Pipeline:
    def __init__(
        self,
        store: ArticleStore,
        client: redis.Redis,
        key_prefix: str,
        pages: dict[str, tuple[int, str]] | None = None,
        label: str = "world",
    ) -> None:
        self.store = store
        self.queue = MemoryQueue()
        self.guard = MemoryGuard()
        self.deferrals = MemoryDeferrals()
        self.now = NOW
        services = StageServices(
            fetcher=StaticFetcher(pages if pages is not None else sample_pages()),
            dedup_index=RedisDedupIndex(client, key_prefix, window_seconds=86_400),
            classifiers=FixedClassifier(label),
        )
        self.runner = StageRunner(
            store=store,
            guard=self.guard,
            deferrals=self.deferrals,
            publisher=self.queue,
            steps=build_steps(services),  # type: ignore[arg-type]
            tracer=Tracer(),
            policy=RetryPolicy(),
            process_id="test-host:4242",
            clock=lambda: self.now,
        )

    def ingest(self, urls: list[str]) -> list[str]:
        """Record the URLs as queued articles and send each to the first stage."""
        ids = [self.store.create_article(url, source="test") for url in urls]
        for article_id in ids:
            self.queue.send(Stage.FETCH, article_id)
        return ids

    def drain(self, waits: dict[Stage, float] | None = None) -> list[StageOutcome]:
        """Deliver every queued message (and those the deliveries send on), each after waiting
        `waits[stage]` seconds in its queue."""
        waits = waits or {}
        outcomes = []
        while self.queue.sent:
            message = self.queue.sent.pop(0)
            delivery = Delivery(
                stage=message.stage,
                article_id=message.article_id,
                message_id=f"m{len(outcomes)}",
                worker=WORKER,
                enqueued_at=self.now - waits.get(message.stage, 0.0),
            )
            outcomes.append(self.runner.run(delivery))
        return outcomes


def populate_deployment(svc: Services, client: redis.Redis, publish: Any) -> None:
    """Give every metric something to say: articles through every stage outcome (stored,
    duplicate, skipped, quarantined, retried), a recovery, a stranded article, messages in a
    queue and in flight, a worker heartbeat, a scheduler tick, crawl counters and feeds in
    every state. `publish` is a CeleryPublisher on the test Redis (its unprefixed queues)."""
    sample = sample_pages()
    copy_url = "https://mirror.example/bridge-copy"
    sample[copy_url] = sample[page_url(STORIES[0])]
    pipeline = Pipeline(svc.store, client, svc.settings.key_prefix, sample)
    names = (*STORIES, NOT_AN_ARTICLE, "gone.html", "flaky.html")
    pipeline.ingest([*(page_url(n) for n in names), copy_url])
    pipeline.drain({Stage.FETCH: 0.5, Stage.CLEAN: 2.0, Stage.DEDUP: 0.02, Stage.CLASSIFY: 1.0})
    lost = svc.store.create_article("https://news.example/lost")
    recovered = EventRecord(lost, RECOVERED, "fetch", "recovered", utcnow(), worker="scheduler")
    svc.store.mark_resent([(lost, "queued")], [recovered])
    stranded = svc.store.create_article("https://news.example/stranded")
    with svc.store._sessions.begin() as s:
        s.execute(
            update(Article)
            .where(Article.id == stranded)
            .values(due_at=utcnow() - timedelta(hours=1))
        )
    for n in range(3):
        publish.send(Stage.CLEAN, f"waiting-{n}")
    raw = client.lindex("clean", 0)
    client.hset("unacked", "tag-1", json.dumps([json.loads(raw or b"{}"), "", "clean"]))
    Heartbeat(client, svc.settings.key_prefix, ["clean", "classify"], "clean.1@test-host").beat()
    client.set(svc.key("scheduler", "last_tick"), f"{time.time():.3f}")
    svc.crawl_counters.record("ok", found=10, new=7, seen=3)
    svc.crawl_counters.record("failed")
    for n, kind in enumerate(("rss", "atom", "sitemap")):
        svc.feeds.upsert(FeedSpec(url=f"https://feeds.example/{n}", kind=kind, interval_s=600))
    svc.feeds.record_failure("https://feeds.example/0", "http_500: down")


__all__ = [
    "NOT_AN_ARTICLE",
    "NOW",
    "STORIES",
    "WORKER",
    "Pipeline",
    "page_url",
    "populate_deployment",
    "sample_pages",
]
