"""Where articles come from: explicit URLs and feeds, turned into queued articles.

Every URL is canonicalised before anything else, claimed in the shared seen-set (so a URL listed
by many feeds is fetched once per window), recorded as a queued article and sent to the first
stage. A URL that cannot be used is recorded as failed with its reason, not dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from workers.discovery import discover
from workers.errors import PermanentError, TransientError
from workers.fetching.urls import canonicalize_url
from workers.pipeline import Stage, first_stage
from workers.services import Services

log = structlog.get_logger("newsflow.sources")

Enqueue = Callable[[Stage, str], None]


@dataclass(slots=True)
class IngestReport:
    queued: list[str] = field(default_factory=list)  # article ids sent to the first stage
    already_seen: list[str] = field(default_factory=list)  # canonical URLs inside the window
    invalid: list[str] = field(default_factory=list)  # article ids recorded as failed
    not_modified: bool = False  # the feed answered 304


def ingest_urls(
    urls: Iterable[str],
    source: str,
    svc: Services,
    enqueue: Enqueue,
    respect_seen: bool = True,
) -> IngestReport:
    report = IngestReport()
    for raw in urls:
        try:
            url = canonicalize_url(raw)
        except PermanentError as exc:
            article_id = svc.store.create_article(raw, source)
            svc.store.mark_failed(article_id, "fetch", f"{exc.reason}: {exc.detail}")
            log.warning("article_rejected", article_id=article_id, url=raw, reason=exc.reason)
            report.invalid.append(article_id)
            continue
        if respect_seen and not svc.seen_urls.claim(url):
            report.already_seen.append(url)
            continue
        article_id = svc.store.create_article(url, source)
        log.info("article_queued", article_id=article_id, url=url, source=source)
        enqueue(first_stage(), article_id)
        report.queued.append(article_id)
    return report


# Feed kinds as operators write them (config/feeds.yaml) -> what discovery parses them as.
_DISCOVERY_KIND = {"news-sitemap": "news_sitemap", "urls": "sitemap"}


def crawl_feed(
    feed_url: str, svc: Services, enqueue: Enqueue, enqueue_crawl: Callable[[str], None]
) -> IngestReport:
    """Poll one feed or sitemap (conditional GET) and queue its new article URLs.

    Child sitemaps of a sitemap index are crawled in turn through the crawl queue.
    """
    feed = svc.feeds.get(feed_url)
    kind = _DISCOVERY_KIND.get(feed.kind, feed.kind) if feed is not None else "auto"
    etag = feed.etag if feed is not None else None
    last_modified = feed.last_modified if feed is not None else None
    since = feed.last_success_at if feed is not None else None
    try:
        response = svc.fetcher.get_feed(feed_url, etag=etag, last_modified=last_modified)
        if response.status == 304:
            svc.feeds.record_success(feed_url, new_items=0, not_modified=True)
            log.info("feed_crawled", feed_url=feed_url, outcome="not_modified", queued=0)
            return IngestReport(not_modified=True)
        entries = discover(
            response.body, response.content_type, response.url or feed_url, kind, since
        )
    except (TransientError, PermanentError) as exc:
        svc.feeds.record_failure(feed_url, f"{exc.reason}: {exc.detail}")
        log.warning("feed_failed", feed_url=feed_url, reason=exc.reason, detail=exc.detail)
        return IngestReport()
    children = [entry.url for entry in entries if entry.kind == "sitemap"]
    for child in children:
        enqueue_crawl(child)
    articles = (entry.url for entry in entries if entry.kind == "article")
    report = ingest_urls(articles, feed_url, svc, enqueue)
    svc.feeds.record_success(
        feed_url,
        new_items=len(report.queued),
        etag=response.etag,
        last_modified=response.last_modified,
    )
    log.info(
        "feed_crawled",
        feed_url=feed_url,
        outcome="ok",
        entries=len(entries),
        queued=len(report.queued),
        already_seen=len(report.already_seen),
        child_sitemaps=len(children),
    )
    return report
