"""Prometheus metrics for dashboards and alerts, collected at scrape time; workers write nothing
for them besides what they already write.

- **Stage counters and latency histograms** come from the `events` table, which every stage
  writes in the same transaction as its result. The collector keeps cumulative counters and
  histogram buckets in this process's memory and, at each scrape, folds in the rows committed
  since the last one (`WHERE id > last ORDER BY id LIMIT n`: a primary-key range read; see
  `workers.store.events` for rows that commit out of id order). They cover every worker on
  every machine, so the histograms aggregate across machines with no multiprocess set-up.
- **Where a process starts counting**: at the newest event when it first collects, not at the
  table's beginning. Its counters start at 0, as every Prometheus counter does after a
  restart, and `rate()` / `increase()` treat that as a reset. Folding the whole history
  instead would take minutes on a large table and show as a burst of rate while it caught up.
  Every replica of the collector counts the same events: scrape one (docs/operations.md).
- **Queues, workers, the scheduler, crawls** are read from Redis at scrape time: list lengths
  and heads, kombu's unacked hash, the workers' heartbeat keys, the scheduler's last tick, and
  the crawl counters (`workers.adapters.crawl_stats`, one write per feed poll).
- **Articles, feeds, stranded articles** are read from the database at scrape time.

A dependency that is down never fails the scrape: `newsflow_redis_up` / `newsflow_database_up`
say 0, the parts that need it are left out (`newsflow_collector_errors{part}` says which), and
the rest, the cumulative event counters included, is still served.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import text

from workers.adapters.crawl_stats import CRAWL_OUTCOMES
from workers.event_stats import EventTally, Histogram
from workers.observe import (
    events_status,
    feed_health,
    oldest_message_ages,
    queue_consumers,
    queue_depths,
    scheduler_last_tick,
    stranded_now,
    unacked_by_queue,
)
from workers.pipeline import STAGES
from workers.services import Services
from workers.store.events import EventCursor

log = structlog.get_logger("newsflow.metrics")

# Rows folded per query and per scrape: 200,000 rows is ~15 s of a 2,000-articles/s pipeline
# (six events each) and takes about a second to read; a collector further behind catches up
# over the next scrapes (newsflow_collector_events_behind says by how much).
FOLD_BATCH = 5000
FOLD_MAX_PER_SCRAPE = 200_000


class NewsflowCollector:
    """A prometheus_client collector (register it with a CollectorRegistry)."""

    def __init__(
        self, svc: Services, *, from_start: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        """`from_start` counts every event already in the table (tests, small deployments);
        by default counting starts at the newest event when the collector first collects."""
        self._svc = svc
        self._from_start = from_start
        self._clock = clock
        self._lock = threading.Lock()  # scrapes may run concurrently (a threaded HTTP server)
        self._tally = EventTally()
        self._cursor: EventCursor | None = None
        self._behind = 0

    def describe(self) -> list[Metric]:
        # Nothing to say ahead: registering must not read Redis or the database.
        return []

    def collect(self) -> Iterator[Metric]:
        errors: dict[str, str] = {}
        redis_up = self._check("redis", self._ping_redis, errors)
        database_up = self._check("database", self._ping_database, errors)
        yield GaugeMetricFamily(
            "newsflow_redis_up", "1 when Redis (broker and shared state) answers", value=redis_up
        )
        yield GaugeMetricFamily(
            "newsflow_database_up", "1 when the article database answers", value=database_up
        )
        parts: list[tuple[str, Callable[[], list[Metric]], int]] = [
            ("queues", self._queue_metrics, redis_up),
            ("workers", self._worker_metrics, redis_up),
            ("scheduler", self._scheduler_metrics, redis_up),
            ("crawl", self._crawl_metrics, redis_up),
            ("articles", self._article_metrics, database_up),
            ("feeds", self._feed_metrics, database_up),
            ("stranded", self._stranded_metrics, redis_up and database_up),
            ("events", self._fold_events, database_up),
            ("event_stream", self._event_stream_metrics, redis_up and database_up),
        ]
        for name, read, available in parts:
            if not available:
                errors.setdefault(name, "dependency down")
                continue
            try:
                yield from read()
            except Exception as exc:  # one part failing must not fail the scrape
                errors[name] = repr(exc)[:200]
                log.warning("metrics_part_failed", part=name, error=repr(exc)[:300])
        with self._lock:
            yield from self._event_metrics()
        failed = GaugeMetricFamily(
            "newsflow_collector_errors",
            "1 for each part of the metrics that could not be read at this scrape",
            labels=["part"],
        )
        for name in errors:
            failed.add_metric([name], 1)
        yield failed

    # --- dependencies ---------------------------------------------------------------------------

    @staticmethod
    def _check(name: str, probe: Callable[[], None], errors: dict[str, str]) -> int:
        try:
            probe()
        except Exception as exc:
            errors[name] = repr(exc)[:200]
            return 0
        return 1

    def _ping_redis(self) -> None:
        self._svc.redis.ping()

    def _ping_database(self) -> None:
        with self._svc.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # --- Redis ----------------------------------------------------------------------------------

    def _queue_metrics(self) -> list[Metric]:
        client = self._svc.redis
        depth = GaugeMetricFamily(
            "newsflow_queue_depth", "Messages waiting in a queue", labels=["queue"]
        )
        for queue, waiting in queue_depths(client).items():
            depth.add_metric([queue], waiting)
        age = GaugeMetricFamily(
            "newsflow_queue_oldest_message_age_seconds",
            "How long the oldest message waiting in a queue has waited (0 when empty)",
            labels=["queue"],
        )
        for queue, seconds in oldest_message_ages(client, self._clock()).items():
            age.add_metric([queue], seconds or 0.0)
        unacked = GaugeMetricFamily(
            "newsflow_messages_unacked",
            "Messages delivered to workers and not yet acknowledged, per queue",
            labels=["queue"],
        )
        for queue, n in unacked_by_queue(client).items():
            unacked.add_metric([queue], n)
        deferred = GaugeMetricFamily(
            "newsflow_deliveries_deferred",
            "Deliveries put off in Redis until due (retries, a polite host's turn)",
            value=self._svc.deferrals.count(),
        )
        return [depth, age, unacked, deferred]

    def _worker_metrics(self) -> list[Metric]:
        per_queue = queue_consumers(self._svc.redis, self._svc.settings.key_prefix)
        workers = GaugeMetricFamily(
            "newsflow_queue_workers",
            "Live workers (Celery nodes, from their heartbeats) consuming a queue",
            labels=["queue"],
        )
        processes = GaugeMetricFamily(
            "newsflow_queue_worker_processes",
            "Live worker processes (pool processes or threaded workers) consuming a queue",
            labels=["queue"],
        )
        for queue, n in per_queue.items():
            workers.add_metric([queue], n["workers"])
            processes.add_metric([queue], n["processes"])
        return [workers, processes]

    def _scheduler_metrics(self) -> list[Metric]:
        tick = scheduler_last_tick(self._svc.redis, self._svc.settings.key_prefix)
        if tick is None:
            return []  # never ticked: absent, which the alert rule covers
        return [
            GaugeMetricFamily(
                "newsflow_scheduler_last_tick_timestamp_seconds",
                "When a scheduler last ran its feed tick (Unix time)",
                value=tick,
            )
        ]

    def _crawl_metrics(self) -> list[Metric]:
        counts = self._svc.crawl_counters.read()
        polls = CounterMetricFamily(
            "newsflow_feed_crawls",
            "Feed polls by outcome (ok, not_modified, failed, postponed, incomplete)",
            labels=["outcome"],
        )
        for outcome in CRAWL_OUTCOMES:
            polls.add_metric([outcome], counts.get(f"polls:{outcome}", 0))
        found = CounterMetricFamily(
            "newsflow_feed_entries_found",
            "Article entries listed by the feeds polled",
            value=counts["entries_found"],
        )
        new = CounterMetricFamily(
            "newsflow_feed_entries_new",
            "Entries queued as new articles (not seen within the seen-URL window)",
            value=counts["entries_new"],
        )
        return [polls, found, new]

    # --- the database ---------------------------------------------------------------------------

    def _article_metrics(self) -> list[Metric]:
        articles = GaugeMetricFamily(
            "newsflow_articles", "Articles in the store by status", labels=["status"]
        )
        for status, stored in self._svc.store.counts_by_status().items():
            articles.add_metric([status], stored)
        return [articles]

    def _feed_metrics(self) -> list[Metric]:
        health = feed_health(self._svc.feeds, limit=0)
        feeds = GaugeMetricFamily(
            "newsflow_feeds",
            "Feeds by state: total, enabled, disabled, failing (failed since their last "
            "success), overdue (due over 5 minutes ago and not polled)",
            labels=["state"],
        )
        for state, n in health.counts.items():
            feeds.add_metric([state], n)
        return [feeds]

    def _stranded_metrics(self) -> list[Metric]:
        stranded = GaugeMetricFamily(
            "newsflow_articles_stranded",
            "Pending articles overdue with no message queued, running or deferred",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "newsflow_stranded_oldest_overdue_seconds",
            "How long the oldest stranded article of a status has been overdue",
            labels=["status"],
        )
        for status, entry in stranded_now(self._svc).items():
            stranded.add_metric([status], entry["count"])
            oldest.add_metric([status], entry["oldest_overdue_s"])
        return [stranded, oldest]

    def _event_stream_metrics(self) -> list[Metric]:
        """The stream of article events (issue 14, docs/events.md)."""
        events = events_status(self._svc)
        found: list[Metric] = [
            GaugeMetricFamily(
                "newsflow_events_undelivered",
                "Terminal article events in the store the relay has not put on the stream yet",
                value=events["undelivered"],
            )
        ]
        if "webhook" in events:
            found.append(
                CounterMetricFamily(
                    "newsflow_webhook_failures",
                    "POSTs of events to NEWSFLOW_WEBHOOK_URL that failed (each is retried)",
                    value=events["webhook"]["failures"],
                )
            )
        return found

    # --- the events table -----------------------------------------------------------------------

    def _fold_events(self) -> list[Metric]:
        events = self._svc.events
        with self._lock:
            if self._cursor is None:
                self._cursor = EventCursor(0 if self._from_start else events.max_id())
            self._cursor.advance(
                events, self._tally.fold, batch=FOLD_BATCH, max_rows=FOLD_MAX_PER_SCRAPE
            )
            self._behind = max(0, events.max_id() - self._cursor.last_id)
        return [
            GaugeMetricFamily(
                "newsflow_collector_events_behind",
                "Event rows committed but not yet counted by this collector",
                value=self._behind,
            )
        ]

    def _event_metrics(self) -> Iterator[Metric]:
        t = self._tally
        events = CounterMetricFamily(
            "newsflow_stage_events",
            "Stage events by stage and outcome (ok, new, duplicate, stored, skipped, retry, "
            "deferred, quarantined, recovered, ...)",
            labels=["stage", "outcome"],
        )
        for (stage, outcome), n in sorted(t.events.items()):
            events.add_metric([stage, outcome], n)
        yield events
        yield _histogram(
            "newsflow_stage_duration_seconds",
            "Time a delivery spent running its stage, whatever its outcome",
            t.durations,
        )
        yield _histogram(
            "newsflow_queue_wait_seconds",
            "Time a message waited in its stage queue before a worker took it (once per delivery)",
            t.waits,
        )
        yield _counter(
            "newsflow_articles_recovered",
            "Stranded articles the reconciler sent to their stage again",
            ["stage"],
            {(stage,): n for stage, n in t.recovered.items()},
        )
        yield _counter(
            "newsflow_articles_quarantined",
            "Articles quarantined (failed, replayable) by stage and reason code",
            ["stage", "reason"],
            t.quarantined,
        )
        yield _counter(
            "newsflow_fetch_responses",
            "HTTP status codes of article fetches (successes, and failures named by code)",
            ["code"],
            {(code,): n for code, n in t.fetch_responses.items()},
        )
        yield CounterMetricFamily(
            "newsflow_fetch_bytes",
            "Bytes of article pages fetched (bodies, after decompression)",
            value=t.fetch_bytes,
        )
        yield _counter(
            "newsflow_articles_classified",
            "Articles classified, by label and language",
            ["label", "language"],
            t.classified,
        )
        yield _counter(
            "newsflow_dedup_verdicts",
            "Dedup verdicts by outcome (new, new_version, duplicate) and the level that matched",
            ["outcome", "level"],
            t.dedup,
        )


def _counter(name: str, doc: str, labels: list[str], values: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, n in sorted(values.items()):
        family.add_metric(list(key), n)
    return family


def _histogram(name: str, doc: str, per_stage: dict[str, Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["stage"])
    # Every stage has its series from the start (zero until it runs), so a stage that never
    # ran is visible as such rather than absent.
    for stage in (*(s.value for s in STAGES), *sorted(set(per_stage) - set(STAGES))):
        hist = per_stage.get(stage) or Histogram()
        family.add_metric([stage], hist.cumulative(), hist.total)
    return family


__all__ = ["NewsflowCollector"]
