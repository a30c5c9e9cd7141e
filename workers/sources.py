"""Where articles come from: explicit URLs and feeds, turned into queued articles.

Every URL is canonicalised before anything else, recorded as a queued article in the store,
claimed in the shared seen-set (so a URL listed by many feeds is fetched once per window) and
sent to the first stage. The store comes first: a crawler killed between two of these steps
leaves at worst a queued article with no message (the reconciler sends it) or a stray copy
(dedup marks it), never a URL claimed by nobody. A URL that cannot be used is recorded as
failed with its reason, not dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from workers.discovery import DiscoveredEntry, discover
from workers.errors import Deferred, InfrastructureError, PermanentError, TransientError
from workers.fetching.urls import canonicalize_url
from workers.pipeline import StagePublisher, first_stage, send_articles
from workers.services import Services
from workers.store.repository import new_article_id, utcnow

log = structlog.get_logger("newsflow.sources")

# URLs recorded, claimed and sent per transaction: a crawl cut short by its time limit keeps
# everything up to the last batch, and the next poll resumes after it (the seen-set remembers).
BATCH = 500
# The first batch is smaller, so idle workers start on the first articles while the rest are
# being recorded (500 rows took ~0.3 s before the first message went out).
FIRST_BATCH = 64


@dataclass(slots=True)
class IngestReport:
    queued: list[str] = field(default_factory=list)  # article ids recorded for the first stage
    already_seen: list[str] = field(default_factory=list)  # canonical URLs inside the window
    invalid: list[str] = field(default_factory=list)  # article ids recorded as failed
    not_modified: bool = False  # the feed answered 304
    unsent: int = 0  # queued in the store but not on the queue (broker away): reconciler's


def ingest_urls(
    urls: Iterable[str],
    source: str,
    svc: Services,
    publisher: StagePublisher,
    respect_seen: bool = True,
    report: IngestReport | None = None,
) -> IngestReport:
    """Record, claim and send `urls`; progress goes into `report` as each batch is done."""
    report = report if report is not None else IngestReport()
    batch: list[str] = []
    limit = FIRST_BATCH
    for raw in urls:
        try:
            batch.append(canonicalize_url(raw))
        except PermanentError as exc:
            article_id = svc.store.create_article(raw, source)
            svc.store.mark_failed(article_id, first_stage(), f"{exc.reason}: {exc.detail}")
            log.warning("article_rejected", article_id=article_id, url=raw, reason=exc.reason)
            report.invalid.append(article_id)
            continue
        if len(batch) >= limit:
            _ingest_batch(batch, source, svc, publisher, respect_seen, report)
            batch, limit = [], BATCH
    _ingest_batch(batch, source, svc, publisher, respect_seen, report)
    return report


def _ingest_batch(
    urls: Sequence[str],
    source: str,
    svc: Services,
    publisher: StagePublisher,
    respect_seen: bool,
    report: IngestReport,
) -> None:
    urls = list(dict.fromkeys(urls))  # a feed may list a URL twice
    if respect_seen:
        fresh = set(svc.seen_urls.unseen(urls))
        # The seen-set is a cache of the store: after a Redis restart without persistence it
        # is empty, and every URL a feed still lists would be fetched and stored again. The
        # store has the last word (one indexed query per batch), and refills the cache.
        window = timedelta(seconds=svc.seen_urls.window_seconds)
        known = svc.store.urls_recorded_since(sorted(fresh), utcnow() - window)
        if known:
            svc.seen_urls.claim_many(sorted(known))
        report.already_seen.extend(u for u in urls if u not in fresh or u in known)
        urls = [u for u in urls if u in fresh and u not in known]
    if not urls:
        return
    items = [(new_article_id(), url) for url in urls]
    svc.store.create_articles(items, source)
    if respect_seen:
        # Another crawler may have claimed a URL since `unseen`: its article wins, ours goes.
        claimed = svc.seen_urls.claim_many(urls)
        lost = [item for item, ok in zip(items, claimed, strict=True) if not ok]
        if lost:
            svc.store.delete_queued([article_id for article_id, _ in lost])
            report.already_seen.extend(url for _, url in lost)
            items = [item for item, ok in zip(items, claimed, strict=True) if ok]
    for article_id, url in items:
        log.info("article_queued", article_id=article_id, url=url, source=source)
    article_ids = [article_id for article_id, _ in items]
    report.queued.extend(article_ids)
    size = svc.settings.stage_batch
    for n in range(0, len(article_ids), size):
        try:
            send_articles(publisher, first_stage(), article_ids[n : n + size])
        except InfrastructureError as exc:
            # Recorded in the store as queued: the reconciler sends them once the broker is back.
            report.unsent += len(article_ids) - n
            log.warning("articles_not_sent", count=len(article_ids) - n, error=str(exc))
            return


# Feed kinds as operators write them (config/feeds.yaml) -> what discovery parses them as.
_DISCOVERY_KIND = {"news-sitemap": "news_sitemap", "urls": "sitemap"}


def newest_first(entries: Sequence[DiscoveredEntry], cap: int) -> list[DiscoveredEntry]:
    """At most `cap` entries: all of them in their order when they fit, else the newest dated
    ones first, then undated ones in document order (feeds list the newest first)."""
    if len(entries) <= cap:
        return list(entries)
    dated = sorted(
        (e for e in entries if e.newest_date is not None),
        key=lambda e: e.newest_date,  # type: ignore[arg-type, return-value]
        reverse=True,
    )
    undated = [e for e in entries if e.newest_date is None]
    return (dated + undated)[:cap]


def crawl_feed(
    feed_url: str,
    svc: Services,
    publisher: StagePublisher,
    enqueue_crawl: Callable[[str], None],
    time_limit_errors: tuple[type[BaseException], ...] = (),
) -> IngestReport:
    """Poll one feed or sitemap (conditional GET) and queue its new article URLs.

    Child sitemaps of a sitemap index are crawled in turn through the crawl queue. A poll cut
    short (time limit) keeps what it queued and is resumed soon without the conditional GET.
    """
    feed = svc.feeds.get(feed_url)
    kind = _DISCOVERY_KIND.get(feed.kind, feed.kind) if feed is not None else "auto"
    etag = feed.etag if feed is not None else None
    last_modified = feed.last_modified if feed is not None else None
    since = feed.last_success_at if feed is not None else None
    cap = svc.settings.feed_max_items
    report = IngestReport()
    articles: list[DiscoveredEntry] = []
    try:
        response = svc.fetcher.get_feed(feed_url, etag=etag, last_modified=last_modified)
        if response.status == 304:
            svc.feeds.record_success(feed_url, new_items=0, not_modified=True)
            svc.crawl_counters.record("not_modified")
            log.info("feed_crawled", feed_url=feed_url, outcome="not_modified", queued=0)
            return IngestReport(not_modified=True)
        entries = discover(
            response.body, response.content_type, response.url or feed_url, kind, since
        )
        children = [entry.url for entry in entries if entry.kind == "sitemap"]
        for child in children:
            enqueue_crawl(child)
        found = [entry for entry in entries if entry.kind == "article"]
        articles = newest_first(found, cap)
        ingest_urls((e.url for e in articles), feed_url, svc, publisher, report=report)
    except Deferred as exc:
        svc.feeds.postpone(feed_url, exc.not_before, f"{exc.reason}: {exc.detail}")
        svc.crawl_counters.record("postponed", **_entries(articles, report))
        log.info("feed_postponed", feed_url=feed_url, reason=exc.reason, until=exc.not_before)
        return report
    except (TransientError, PermanentError) as exc:
        svc.feeds.record_failure(feed_url, f"{exc.reason}: {exc.detail}")
        svc.crawl_counters.record("failed", **_entries(articles, report))
        log.warning("feed_failed", feed_url=feed_url, reason=exc.reason, detail=exc.detail)
        return report
    except time_limit_errors:
        done = len(report.queued) + len(report.already_seen)
        note = f"time_limit: took {done} of {len(articles)} entries before the time limit"
        svc.feeds.record_incomplete(feed_url, note)
        svc.crawl_counters.record("incomplete", **_entries(articles, report))
        log.warning("feed_incomplete", feed_url=feed_url, reason=note)
        return report
    svc.feeds.record_success(
        feed_url,
        new_items=len(report.queued),
        etag=response.etag,
        last_modified=response.last_modified,
    )
    svc.crawl_counters.record(
        "ok", found=len(found), new=len(report.queued), seen=len(report.already_seen)
    )
    log.info(
        "feed_crawled",
        feed_url=feed_url,
        outcome="ok",
        entries=len(found),
        capped=len(found) - len(articles),
        queued=len(report.queued),
        already_seen=len(report.already_seen),
        child_sitemaps=len(children),
    )
    return report


def _entries(taken: Sequence[DiscoveredEntry], report: IngestReport) -> dict[str, int]:
    """What a poll that ended early got through: entries taken, queued and already seen."""
    return {"found": len(taken), "new": len(report.queued), "seen": len(report.already_seen)}
