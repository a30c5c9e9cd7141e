"""Crawling a feed: conditional GET, the shared seen-set, unsafe feeds, feed state updates.

Real HTTP server on 127.0.0.1, real Redis, real SQLite store; the queue is the outermost seam,
recorded as a list of (stage, article id) sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.test_fetch_support import LocalServer, send, serve
from workers.errors import InfrastructureError
from workers.pipeline import Stage
from workers.services import Services
from workers.settings import Settings
from workers.sources import FIRST_BATCH, crawl_feed, ingest_urls
from workers.store.feeds import FeedSpec


def rss(*links: str) -> bytes:
    items = "".join(f"<item><title>{link}</title><link>{link}</link></item>" for link in links)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    ).encode()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as running:
        yield running


@pytest.fixture
def svc(
    server: LocalServer, tmp_path: Path, redis_url: str, key_prefix: str, redis_client: object
) -> Services:
    settings = Settings().with_overrides(
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'crawl.db'}",
        key_prefix=key_prefix,
        allow_hosts=f"127.0.0.1:{server.port}",
        # These tests are about feeds and sitemaps, not politeness: every document comes from
        # one local host (the default `*=1` rate is tested in test_fetch_ratelimit.py and
        # tests/integration/test_politeness.py, and by the slowed host below).
        fetch_host_rates="*=100",
    )
    return Services(settings)


class Sent(list[tuple[str, str]]):
    """The queue, recorded: (stage, article id) per message sent."""

    def send(self, stage: str, article_id: str) -> None:
        self.append((stage, article_id))

    def send_batch(self, stage: str, article_ids: Sequence[str]) -> None:
        self.extend((stage, article_id) for article_id in article_ids)


class BrokerDown:
    """A queue that cannot be reached (the outermost seam), after `ok` messages went through."""

    def __init__(self, ok: int = 0, error: type[Exception] = InfrastructureError) -> None:
        self.ok = ok
        self.sent: list[str] = []
        self.error = error

    def send(self, stage: str, article_id: str) -> None:
        self.send_batch(stage, [article_id])

    def send_batch(self, stage: str, article_ids: Sequence[str]) -> None:
        if len(self.sent) + len(article_ids) > self.ok:
            if self.error is InfrastructureError:
                raise InfrastructureError("broker_unavailable", "connection refused")
            raise self.error("time is up")
        self.sent.extend(article_ids)


def serve_rss(server: LocalServer, path: str, body: bytes, **headers: str) -> str:
    server.routes[path] = lambda h: send(
        h, 200, body, {"Content-Type": "application/rss+xml", **headers}
    )
    return server.url(path)


def test_the_same_url_in_three_feeds_is_queued_once(server: LocalServer, svc: Services) -> None:
    shared = server.url("/story.html")
    for n in range(3):
        server.routes[f"/feed{n}.xml"] = lambda h, n=n: send(
            h,
            200,
            rss(shared + "?utm_source=feed", server.url(f"/only{n}.html")),
            {"Content-Type": "application/rss+xml"},
        )
    sent = Sent()
    for n in range(3):
        crawl_feed(server.url(f"/feed{n}.xml"), svc, sent, lambda child: None)
    urls = [svc.store.get(article_id).url for _stage, article_id in sent]  # type: ignore[union-attr]
    assert sorted(urls) == sorted([shared, *(server.url(f"/only{n}.html") for n in range(3))])
    assert {stage for stage, _ in sent} == {"fetch"}


def test_an_unchanged_feed_costs_a_304_and_queues_nothing(
    server: LocalServer, svc: Services
) -> None:
    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304)
        else:
            send(
                h,
                200,
                rss(server.url("/a.html")),
                {"Content-Type": "application/rss+xml", "ETag": '"v1"'},
            )

    server.routes["/feed.xml"] = feed
    url = server.url("/feed.xml")
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))
    first, second = Sent(), Sent()
    crawl_feed(url, svc, first, lambda child: None)
    report = crawl_feed(url, svc, second, lambda child: None)
    assert len(first) == 1
    assert second == []
    assert report.not_modified
    assert server.hits[-1].headers.get("if-none-match") == '"v1"'
    state = svc.feeds.get(url)
    assert state is not None
    assert state.etag == '"v1"'
    assert state.consecutive_failures == 0


def test_an_entity_expansion_feed_is_refused_and_recorded_on_the_feed(
    server: LocalServer, svc: Services
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<rss version="2.0"><channel><item><link>&lol3;</link></item></channel></rss>'
    )
    server.routes["/bomb.xml"] = lambda h: send(
        h, 200, bomb, {"Content-Type": "application/rss+xml"}
    )
    url = server.url("/bomb.xml")
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))
    sent = Sent()
    crawl_feed(url, svc, sent, lambda child: None)
    assert sent == []
    state = svc.feeds.get(url)
    assert state is not None
    assert state.consecutive_failures == 1
    assert "unsafe_xml" in (state.last_error or "")


def test_a_sitemap_index_sends_its_children_to_the_crawl_queue(
    server: LocalServer, svc: Services
) -> None:
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{server.url('/news-1.xml')}</loc></sitemap></sitemapindex>"
    ).encode()
    server.routes["/index.xml"] = lambda h: send(h, 200, index, {"Content-Type": "application/xml"})
    children: list[str] = []
    crawl_feed(server.url("/index.xml"), svc, Sent(), children.append)
    assert children == [server.url("/news-1.xml")]


def test_an_unusable_url_is_recorded_as_failed_not_dropped(svc: Services) -> None:
    report = ingest_urls(["mailto:editor@example.org"], "cli", svc, Sent())
    assert report.queued == []
    [article_id] = report.invalid
    record = svc.store.get(article_id)
    assert record is not None
    assert record.status == "failed"
    assert record.status_reason


def test_articles_are_recorded_in_the_store_even_when_the_queue_is_down(
    server: LocalServer, svc: Services
) -> None:
    """The store is the source of truth: what could not be sent waits there for the
    reconciler, queued and due."""
    # Ten entries: one message of eight (the default batch) goes out, the next cannot.
    assert svc.settings.stage_batch == 8
    links = [server.url(f"/{n}.html") for n in range(10)]
    url = serve_rss(server, "/feed.xml", rss(*links))
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))
    report = crawl_feed(url, svc, BrokerDown(ok=8), lambda child: None)
    assert report.unsent == 2
    assert len(report.queued) == 10
    assert {svc.store.status_of(a) for a in report.queued} == {"queued"}


def test_articles_ready_together_travel_in_messages_of_the_default_batch(svc: Services) -> None:
    from tests.fakes import MemoryQueue

    queue = MemoryQueue()
    urls = [f"https://news.example/{n}" for n in range(20)]
    report = ingest_urls(urls, "cli", svc, queue)
    assert [len(ids) for _, ids in queue.batches] == [8, 8, 4]
    assert {stage for stage, _ in queue.batches} == {Stage.FETCH}
    assert [m.article_id for m in queue.sent] == report.queued


def test_a_long_list_starts_going_out_before_all_of_it_is_recorded(svc: Services) -> None:
    """Idle workers start on the first articles while the rest are being recorded."""
    from tests.fakes import MemoryQueue

    recorded_at_first_send: list[int] = []

    class Watching(MemoryQueue):
        def send_batch(self, stage: Stage, article_ids: Sequence[str]) -> None:
            if not recorded_at_first_send:
                recorded_at_first_send.append(sum(svc.store.counts_by_status().values()))
            super().send_batch(stage, article_ids)

    queue = Watching()
    report = ingest_urls([f"https://news.example/{n}" for n in range(300)], "cli", svc, queue)
    assert recorded_at_first_send == [FIRST_BATCH]
    assert len(report.queued) == len(queue.sent) == 300


def test_a_batch_of_one_sends_one_message_per_article(svc: Services) -> None:
    """NEWSFLOW_STAGE_BATCH=1 turns batching off (a deployment whose old workers still run
    during an upgrade: they read one article's message only)."""
    from tests.fakes import MemoryQueue

    queue = MemoryQueue()
    single = Services(svc.settings.with_overrides(stage_batch=1))
    report = ingest_urls([f"https://news.example/{n}" for n in range(3)], "cli", single, queue)
    assert queue.batches == []
    assert [m.article_id for m in queue.sent] == report.queued


def test_a_feed_longer_than_the_item_cap_gives_its_newest_entries(
    server: LocalServer, svc: Services
) -> None:
    items = "".join(
        f"<item><link>{server.url(f'/{n}.html')}</link>"
        f"<pubDate>Mon, {n + 1:02d} Jun 2026 10:00:00 GMT</pubDate></item>"
        for n in range(12)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()
    url = serve_rss(server, "/big.xml", body)
    capped = Services(svc.settings.with_overrides(feed_max_items=5))
    sent = Sent()
    crawl_feed(url, capped, sent, lambda child: None)
    urls = sorted(capped.store.get(a).url for _, a in sent)  # type: ignore[union-attr]
    assert urls == sorted(server.url(f"/{n}.html") for n in range(7, 12))


def test_the_default_item_cap_lets_a_large_archive_sitemap_through() -> None:
    assert Settings().feed_max_items == 10_000


def test_a_crawl_cut_short_keeps_what_it_recorded_and_resumes_without_the_validators(
    server: LocalServer, svc: Services
) -> None:
    links = [server.url(f"/{n}.html") for n in range(10)]
    url = serve_rss(server, "/feed.xml", rss(*links), ETag='"v2"')
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))

    class TimeUpError(Exception):
        pass

    # The soft time limit strikes on the second message (the first names the default eight).
    queue = BrokerDown(ok=8, error=TimeUpError)
    crawl_feed(url, svc, queue, lambda child: None, time_limit_errors=(TimeUpError,))
    state = svc.feeds.get(url)
    assert state is not None
    assert "time_limit" in (state.last_error or "")
    assert state.etag is None  # the next poll must get the whole feed again
    assert state.consecutive_failures == 0
    # Every entry of the interrupted batch is in the store, queued, once: the one sent is on
    # its way, the others wait for the reconciler. The resumed poll adds nothing twice.
    crawl_feed(url, svc, Sent(), lambda child: None)
    recorded = [a for a in svc.store.list_articles(limit=100) if a.source == url]
    assert sorted(a.url for a in recorded) == sorted(links)
    assert {a.status for a in recorded} == {"queued"}


def test_a_busy_host_postpones_the_poll_without_counting_a_failure(
    server: LocalServer, svc: Services
) -> None:
    url = serve_rss(server, "/feed.xml", rss(server.url("/a.html")))
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))
    slow = Services(svc.settings.with_overrides(fetch_host_rates="*=0.01"))
    slow.fetcher.limiter.acquire("127.0.0.1")  # type: ignore[union-attr] # the next slot: 100 s
    crawl_feed(url, slow, Sent(), lambda child: None)
    state = slow.feeds.get(url)
    assert state is not None
    assert state.consecutive_failures == 0
    assert (state.next_due_at - datetime.now(UTC)).total_seconds() > 60


def test_after_the_seen_set_is_lost_the_store_still_knows_what_was_ingested(
    server: LocalServer, svc: Services, redis_client: object, key_prefix: str
) -> None:
    """A Redis restart without persistence empties the seen-set; a feed polled again must not
    have its articles fetched and stored a second time."""
    url = serve_rss(server, "/feed.xml", rss(server.url("/a.html"), server.url("/b.html")))
    first = Sent()
    crawl_feed(url, svc, first, lambda child: None)
    for key in redis_client.scan_iter(match=f"{key_prefix}:seen:*"):  # type: ignore[attr-defined]
        redis_client.delete(key)  # type: ignore[attr-defined]
    again = Sent()
    report = crawl_feed(url, svc, again, lambda child: None)
    assert len(first) == 2
    assert again == []
    assert sorted(report.already_seen) == sorted([server.url("/a.html"), server.url("/b.html")])
    assert svc.seen_urls.unseen([server.url("/a.html")]) == []  # the cache is warm again


def test_every_poll_is_counted_by_outcome_with_the_entries_it_found(
    server: LocalServer, svc: Services
) -> None:
    """The crawl metrics (newsflow_feed_crawls_total, newsflow_feed_entries_*): one count per
    poll, shared by every crawler through Redis."""

    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304)
        else:
            body = rss(server.url("/a.html"), server.url("/b.html"), server.url("/c.html"))
            send(h, 200, body, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    server.routes["/feed.xml"] = feed
    server.routes["/gone.xml"] = lambda h: send(h, 404, b"gone")
    url = server.url("/feed.xml")
    svc.feeds.upsert(FeedSpec(url=url, kind="rss", interval_s=600))
    ingest_urls([server.url("/a.html")], "by hand", svc, Sent())  # one entry already seen
    crawl_feed(url, svc, Sent(), lambda child: None)
    crawl_feed(url, svc, Sent(), lambda child: None)
    crawl_feed(server.url("/gone.xml"), svc, Sent(), lambda child: None)
    counts = svc.crawl_counters.read()
    assert counts == {
        "polls:ok": 1,
        "polls:not_modified": 1,
        "polls:failed": 1,
        "polls:postponed": 0,
        "polls:incomplete": 0,
        "entries_found": 3,
        "entries_new": 2,
        "entries_seen": 1,
    }
