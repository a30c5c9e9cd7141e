"""The dashboard's read-only reports, on SQLite and PostgreSQL alike (same answers on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.feedspec import FeedSpec
from workers.pipeline import Stage
from workers.store import ArticleStore, EventRecord
from workers.store.feeds import DISABLE_AFTER, FeedStore
from workers.store.reports import (
    feed_health,
    latency_percentiles,
    percentile,
    recent_failures,
    stage_throughput,
    window_start,
)

# Mid-minute, so "a minute ago" and "now" fall in different buckets.
NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)


def add(
    store: ArticleStore,
    at: datetime,
    stage: str = "fetch",
    outcome: str = "ok",
    event: str = "article_fetched",
    duration_ms: float | None = None,
    queue_wait_ms: float | None = None,
) -> None:
    store.add_event(
        EventRecord("a1", event, stage, outcome, at, duration_ms, queue_wait_ms, worker="w")
    )


def test_throughput_counts_events_per_minute_by_stage_and_outcome(store: ArticleStore) -> None:
    add(store, NOW)
    add(store, NOW - timedelta(seconds=5))
    add(store, NOW - timedelta(minutes=1))
    add(store, NOW, stage="clean", outcome="skipped", event="article_skipped")
    report = stage_throughput(store.engine, NOW)
    assert report["buckets"] == 60
    assert report["start"] == int(window_start(NOW).timestamp())
    fetch = report["stages"]["fetch"]["ok"]
    assert len(fetch) == 60
    assert (fetch[-1], fetch[-2], sum(fetch)) == (2, 1, 3)
    assert report["totals"] == {"fetch": {"ok": 3}, "clean": {"skipped": 1}}


def test_throughput_leaves_out_what_is_older_than_the_hour_and_the_stored_marker(
    store: ArticleStore,
) -> None:
    add(store, NOW - timedelta(minutes=61))
    add(store, NOW, stage="classify", outcome="ok", event="article_classified")
    add(store, NOW, stage="classify", outcome="stored", event="article_stored")
    assert stage_throughput(store.engine, NOW)["totals"] == {"classify": {"ok": 1}}


def test_latency_percentiles_per_stage_of_durations_and_queue_waits(store: ArticleStore) -> None:
    for ms in range(1, 101):  # 1..100 ms
        add(store, NOW - timedelta(seconds=ms), duration_ms=float(ms), queue_wait_ms=ms * 10.0)
    add(store, NOW, stage="clean", outcome="deferred", event="article_deferred", queue_wait_ms=7)
    add(store, NOW - timedelta(hours=2), duration_ms=99_999.0)  # outside the window
    report = latency_percentiles(store.engine, NOW)
    fetch = report["stages"]["fetch"]
    assert fetch["duration_ms"] == {"n": 100, "p50": 50.5, "p95": 95.05, "p99": 99.01}
    assert fetch["queue_wait_ms"]["p50"] == 505.0
    clean = report["stages"]["clean"]
    assert clean["duration_ms"] == {"n": 0, "p50": None, "p95": None, "p99": None}
    assert clean["queue_wait_ms"]["n"] == 1
    assert report["sampled"] is False


def test_latency_reports_when_it_read_only_the_newest_runs(store: ArticleStore) -> None:
    for s in range(5):
        add(store, NOW - timedelta(seconds=s), duration_ms=float(s))
    report = latency_percentiles(store.engine, NOW, sample=3)
    assert report["sampled"] is True
    assert report["stages"]["fetch"]["duration_ms"]["n"] == 3


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_feed_health_lists_failing_overdue_and_disabled_feeds(store: ArticleStore) -> None:
    feeds = FeedStore(store.engine)
    for name in ("ok", "failing", "dead", "off"):
        feeds.upsert(FeedSpec(url=f"https://{name}.example/feed", kind="rss", interval_s=600))
    feeds.upsert(
        FeedSpec(url="https://off.example/feed", kind="rss", interval_s=600, enabled=False)
    )
    feeds.record_success("https://ok.example/feed", new_items=1)
    feeds.record_failure("https://failing.example/feed", "HTTP 503")
    for _ in range(DISABLE_AFTER):
        feeds.record_failure("https://dead.example/feed", "DNS failure")
    # Due ten minutes from the real clock; "now" for the report is an hour later: overdue.
    report = feed_health(store.engine, datetime.now(UTC) + timedelta(hours=1))
    assert report["total"] == 4
    assert (report["failing_count"], report["disabled_count"]) == (1, 2)
    assert [f["url"] for f in report["failing"]] == ["https://failing.example/feed"]
    assert report["failing"][0]["last_error"] == "HTTP 503"
    disabled = {f["url"]: f["reason"] for f in report["disabled"]}
    assert "10 failures in a row" in disabled["https://dead.example/feed"]
    assert disabled["https://off.example/feed"] == "disabled in the feeds file"
    # ok is due in 5 min (adapted interval) and failing after its back-off: an hour on, both
    # are overdue; the disabled ones never are.
    assert report["overdue_count"] == 2
    assert {f["url"] for f in report["overdue"]} == {
        "https://ok.example/feed",
        "https://failing.example/feed",
    }
    assert all(f["overdue_s"] > 0 for f in report["overdue"])


def test_feed_health_of_fresh_feeds_shows_nothing_overdue(store: ArticleStore) -> None:
    FeedStore(store.engine).upsert(FeedSpec(url="https://a.example/f", kind="rss", interval_s=600))
    report = feed_health(store.engine, datetime.now(UTC))
    assert (report["total"], report["overdue_count"], report["failing_count"]) == (1, 0, 0)


def test_recent_failures_are_the_quarantined_articles_newest_first(store: ArticleStore) -> None:
    first = store.create_article("https://news.example/1", "t")
    second = store.create_article("https://news.example/2", "t")
    store.create_article("https://news.example/ok", "t")
    store.mark_failed(first, Stage.FETCH, "http_404: gone")
    store.mark_failed(second, Stage.CLEAN, "unexpected_error: boom")
    report = recent_failures(store.engine, limit=1)
    assert report["total"] == 2
    [newest] = report["articles"]
    assert newest["id"] == second
    assert (newest["stage"], newest["reason"]) == ("clean", "unexpected_error: boom")
    assert newest["failed_at"]
