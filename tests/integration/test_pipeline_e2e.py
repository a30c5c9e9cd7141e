"""The queued pipeline end to end: real Redis, real `celery worker` processes, real HTTP on
127.0.0.1, a real database (SQLite file and PostgreSQL).

The bundled demo sites are served; their feeds go through the scheduler tick onto the crawl
queue; workers fetch, clean, deduplicate and classify every listed article. The sites'
`expectations.json` says what each page's story is and which boilerplate must disappear.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import e2e_settings, register_demo_feeds
from workers.app import create_app
from workers.demo.server import SITE_ROOT, DemoSites, serve_demo_sites
from workers.demo.session import start_workers, stop_processes, wait_until_settled
from workers.queueing import enqueue_crawl
from workers.scheduler import scheduler_tick
from workers.services import Services
from workers.settings import Settings

pytestmark = pytest.mark.integration

EXPECTATIONS: dict[str, Any] = json.loads((SITE_ROOT / "expectations.json").read_text("utf-8"))
STAGE_EVENTS = [
    "article_fetched",
    "article_cleaned",
    "article_deduplicated",
    "article_classified",
    "article_stored",
]


@pytest.fixture(scope="module")
def sites() -> Iterator[DemoSites]:
    running = serve_demo_sites()
    yield running
    running.stop()


def run_pipeline(
    sites: DemoSites,
    redis_url: str,
    database_url: str,
    log_path: Path,
    make_services: Callable[[Settings], Services],
) -> Services:
    # Default settings throughout, the politeness limit included: both sample sites live on
    # 127.0.0.1, so their ~17 requests share one host's 1 request/s.
    settings = e2e_settings(redis_url, database_url, sites.bases.values())
    svc = make_services(settings)
    feed_urls = register_demo_feeds(svc, sites)
    celery = create_app(settings)
    with log_path.open("wb") as log_file:
        children = start_workers(settings, log_file)
        try:
            scheduler_tick(svc, lambda url: enqueue_crawl(celery, url), 1.0, "test")
            settled = wait_until_settled(svc.store, svc.feeds, feed_urls, 240, children)
        finally:
            stop_processes(children)
            celery.close()
    assert settled, f"pipeline did not settle: {svc.store.counts_by_status()}"
    return svc


def by_path(svc: Services, sites: DemoSites, path: str) -> Any:
    found = svc.store.find(sites.url(path))
    assert len(found) == 1, f"{path}: expected one article, found {len(found)}"
    return found[0]


def assert_pipeline_outcome(svc: Services, sites: DemoSites, log_path: Path) -> None:
    # Of a story and its republished copy, whichever was seen first is stored and the other is
    # kept as its duplicate, in the same story cluster.
    duplicates = set()
    for copy_path, original_path in EXPECTATIONS["duplicates"]:
        pair = [by_path(svc, sites, copy_path), by_path(svc, sites, original_path)]
        [first] = [a for a in pair if a.status == "stored"]
        [second] = [a for a in pair if a.status == "duplicate"]
        assert second.duplicate_of == first.id
        assert second.cluster_id == first.cluster_id
        duplicates.add(second.url)

    # Every article page keeps its story and loses its boilerplate; stored ones carry their
    # topic and metadata.
    for page in EXPECTATIONS["articles"]:
        article = by_path(svc, sites, page["path"])
        for sentence in page["must_contain"]:
            assert sentence in article.text, f"{page['path']}: lost {sentence!r}"
        for junk in page["must_not_contain"]:
            assert junk not in article.text, f"{page['path']}: kept {junk!r}"
        assert article.title == page["title"]
        assert page["author"] in article.authors
        if article.url in duplicates:
            continue
        assert article.status == "stored", (page["path"], article.status, article.status_reason)
        assert article.label == page["topic"], (page["path"], article.label, article.confidence)
        assert article.model_version
        assert article.published_at is not None
        assert article.published_at.startswith(page["published"][:10])

    # A URL listed again with tracking parameters is the same canonical URL: fetched once.
    tracked = EXPECTATIONS["tracking_duplicate"]
    assert len(svc.store.find(sites.url(tracked["same_as"]))) == 1

    # Pages that are not stories are skipped with a reason; a missing page is quarantined.
    for path in EXPECTATIONS["not_articles"]:
        skipped = by_path(svc, sites, path)
        assert skipped.status == "skipped"
        assert skipped.status_reason
    for path in EXPECTATIONS["missing"]:
        missing = by_path(svc, sites, path)
        assert missing.status == "failed"
        assert "404" in (missing.status_reason or "")

    # Every stored article's trace runs through the stages in order, under one article id.
    # Both sites share 127.0.0.1 and its default 1 request/s: an article may first have been
    # deferred to its host's next slot (an event of its own), never at the cost of a retry.
    deferred = 0
    for article in svc.store.list_articles(status="stored", limit=100):
        events = svc.store.events(article.id)
        names = [e.event for e in events]
        deferred += names.count("article_deferred")
        assert [n for n in names if n != "article_deferred"] == STAGE_EVENTS
        assert {e.article_id for e in events} == {article.id}
        assert all(e.worker for e in events)
        assert {e.attempt for e in events} == {1}
    assert deferred > 0  # the politeness limit was in force

    # The worker logs carry the same events as JSON lines, each with the article id.
    lines = [
        json.loads(line)
        for line in log_path.read_text("utf-8").splitlines()
        if line.startswith("{")
    ]
    fetched = [line for line in lines if line.get("event") == "article_fetched"]
    assert fetched
    assert all(line.get("article_id") for line in fetched)
    for field in ("url", "stage", "outcome", "duration_ms", "queue_wait_ms", "attempt", "worker"):
        assert field in fetched[0]


def test_pipeline_on_sqlite(
    sites: DemoSites,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    log_path = tmp_path / "workers.log"
    svc = run_pipeline(sites, e2e_redis_url, sqlite_url, log_path, make_services)
    assert_pipeline_outcome(svc, sites, log_path)


@pytest.mark.postgres
def test_pipeline_on_postgresql(
    sites: DemoSites,
    e2e_redis_url: str,
    postgres_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    log_path = tmp_path / "workers.log"
    svc = run_pipeline(sites, e2e_redis_url, postgres_url, log_path, make_services)
    assert_pipeline_outcome(svc, sites, log_path)
