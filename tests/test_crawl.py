"""Crawling a feed: conditional GET, the shared seen-set, unsafe feeds, feed state updates.

Real HTTP server on 127.0.0.1, real Redis, real SQLite store; the queue is the outermost seam,
recorded as a list of (stage, article id) sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.test_fetch_support import LocalServer, send, serve
from workers.services import Services
from workers.settings import Settings
from workers.sources import crawl_feed, ingest_urls
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
def svc(tmp_path: Path, redis_url: str, key_prefix: str, redis_client: object) -> Services:
    settings = Settings().with_overrides(
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'crawl.db'}",
        key_prefix=key_prefix,
        allow_hosts="127.0.0.1",
        fetch_host_rates="*=100",
    )
    return Services(settings)


class Sent(list[tuple[str, str]]):
    def __call__(self, stage: str, article_id: str) -> None:
        self.append((stage, article_id))


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
