"""Read-only views for operators: queues, workers, feeds, the scheduler, stage rates, traces.

Shared by `newsflow status`, `newsflow trace`, `newsflow doctor`, the metrics collector and the
dashboard, so they never disagree. Each function reads one thing and raises what its store
raises; callers that must survive a dependency being down (the collector, the page) guard each
call on its own.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis

from workers.adapters.stage_guard import live_processes, workers_per_queue
from workers.event_stats import EventTally
from workers.pipeline import QUEUES
from workers.reconciler import RedisQueueProbe, find_stranded, stranded_summary
from workers.services import Services
from workers.store import EventRecord
from workers.store.events import EventLog, EventRow
from workers.store.feeds import FeedState, FeedStore
from workers.store.repository import utcnow
from workers.tracing import RECOVERED

# kombu's Redis transport keeps prioritised messages in sibling lists "<queue>\x06\x16<n>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
# A feed due this long ago and still not claimed is overdue: the scheduler claims due feeds
# every tick (10 s), so five minutes means no scheduler runs, or it cannot keep up.
FEED_OVERDUE_AFTER_S = 300.0


# --- queues -----------------------------------------------------------------------------------


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting in each stage queue (not counting ones a worker holds unacked)."""
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        pipe.llen(queue)
        for step in _PRIORITY_STEPS:
            pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
    counts = pipe.execute()
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {
        queue: int(sum(counts[i * per_queue : (i + 1) * per_queue]))
        for i, queue in enumerate(QUEUES)
    }


def unacked_count(client: redis.Redis) -> int:
    """Messages delivered to a worker and not yet acknowledged (in flight or held for an ETA)."""
    return int(client.hlen("unacked"))


def unacked_by_queue(client: redis.Redis) -> dict[str, int]:
    """Unacknowledged messages per queue. kombu keeps each in the `unacked` hash as JSON
    `[message, exchange, routing_key]`; newsflow routes every message with its queue's name.
    The hash holds at most a few messages per worker process (prefetch 1), so reading it
    whole is cheap."""
    counts = dict.fromkeys(QUEUES, 0)
    for raw in client.hvals("unacked"):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if routing_key in counts:
            counts[routing_key] += 1
    return counts


def oldest_message_ages(client: redis.Redis, now: float | None = None) -> dict[str, float | None]:
    """Seconds the oldest message waiting in each queue has waited (None: the queue is empty,
    or its oldest message carries no `enqueued_at` header). kombu pushes on the left and
    consumers pop on the right, so the oldest message is the list's last element; every
    message newsflow sends carries its publish time (workers.queueing)."""
    now = time.time() if now is None else now
    probe = RedisQueueProbe(client)
    ages: dict[str, float | None] = {}
    for queue in QUEUES:
        sent = probe.oldest_enqueued_at(queue)
        ages[queue] = None if not sent else max(0.0, now - sent)
    return ages


# --- workers ----------------------------------------------------------------------------------


def queue_consumers(client: redis.Redis, key_prefix: str) -> dict[str, dict[str, int]]:
    """Per queue: live `workers` (Celery nodes), worker `processes` and `hosts` consuming it,
    from the workers' heartbeats (`workers.adapters.stage_guard.live_processes`, which the
    dashboard page reads too): two round trips, whatever the number of keys."""
    return workers_per_queue(live_processes(client, key_prefix), QUEUES)


# --- the scheduler and the feeds --------------------------------------------------------------


def scheduler_last_tick(client: redis.Redis, key_prefix: str) -> float | None:
    """Epoch seconds of the last scheduler tick, by any scheduler (None: never)."""
    raw = client.get(f"{key_prefix}:scheduler:last_tick")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    counts: dict[str, int]  # total, enabled, disabled, failing, overdue
    troubled: list[FeedState]  # the worst few: disabled, failing or overdue

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts,
            "troubled": [
                {
                    "url": f.url,
                    "enabled": f.enabled,
                    "consecutive_failures": f.consecutive_failures,
                    "reason": f.disabled_reason or f.last_error,
                    "next_due_at": f.next_due_at.isoformat(),
                    "last_success_at": f.last_success_at.isoformat() if f.last_success_at else None,
                }
                for f in self.troubled
            ],
        }


def feed_health(feeds: FeedStore, limit: int = 10) -> FeedHealth:
    overdue_before = utcnow() - timedelta(seconds=FEED_OVERDUE_AFTER_S)
    return FeedHealth(feeds.health_counts(overdue_before), feeds.troubled(overdue_before, limit))


# --- stranded articles --------------------------------------------------------------------------


def stranded_now(svc: Services) -> dict[str, dict[str, float]]:
    """Per pending status: stranded articles (what the reconciler would resend) and how long
    the oldest has been overdue."""
    _, stranded = find_stranded(
        svc.store,
        RedisQueueProbe(svc.redis),
        svc.stage_guard,
        svc.deferrals,
        svc.settings.stranded_after,
    )
    return stranded_summary(stranded)


# --- stage rates and latencies over the last minutes --------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (0 < q <= 1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _latency(values: Sequence[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    mean = sum(values) / len(values) if values else None
    return {
        "n": len(values),
        "mean": r(mean),
        "p50": r(percentile(values, 0.5)),
        "p95": r(percentile(values, 0.95)),
        "p99": r(percentile(values, 0.99)),
    }


def stage_window(rows: Sequence[EventRow], window_s: float) -> dict[str, dict[str, Any]]:
    """Per stage, over the events of the last `window_s` seconds: outcomes, events per minute,
    and duration and queue-wait percentiles in milliseconds (each delivery's wait once)."""
    tally = EventTally()
    durations: dict[str, list[float]] = {}
    waits: dict[str, list[float]] = {}
    for row in rows:
        tally.fold(row)
        if row.duration_ms is not None:
            durations.setdefault(row.stage, []).append(row.duration_ms)
        if row.queue_wait_ms is not None:
            waits.setdefault(row.stage, []).append(row.queue_wait_ms)
    stages: dict[str, dict[str, Any]] = {}
    minutes = max(window_s, 1.0) / 60
    for (stage, outcome), n in sorted(tally.events.items()):
        entry = stages.setdefault(stage, {"outcomes": {}, "events": 0})
        entry["outcomes"][outcome] = n
        entry["events"] += n
    for stage, entry in stages.items():
        done = len(durations.get(stage, ()))
        entry["per_minute"] = round(entry["events"] / minutes, 2)
        entry["runs_per_minute"] = round(done / minutes, 2)
        entry["duration_ms"] = _latency(durations.get(stage, []))
        entry["queue_wait_ms"] = _latency(waits.get(stage, []))
        # The names `newsflow status --json` had before it measured a window.
        entry["mean_duration_ms"] = entry["duration_ms"]["mean"]
        entry["mean_queue_wait_ms"] = entry["queue_wait_ms"]["mean"]
    return stages


# Rows `newsflow status` reads at most: about a second's read; a busier window is shortened.
STATUS_MAX_EVENTS = 100_000


def recent_events(
    log: EventLog, window_s: float, limit: int = STATUS_MAX_EVENTS
) -> tuple[list[EventRow], float]:
    """The events of the last `window_s` seconds, newest first, and the seconds they cover:
    `window_s`, or less when more than `limit` rows fall in it (rates stay right)."""
    now = utcnow()
    rows = log.recent(now - timedelta(seconds=window_s), limit)
    if len(rows) >= limit:
        window_s = max(1.0, (now - rows[-1].at).total_seconds())
    return rows, window_s


# --- the whole report ---------------------------------------------------------------------------


@dataclass(slots=True)
class StatusReport:
    window_s: float
    queues: dict[str, int] = field(default_factory=dict)
    oldest_age_s: dict[str, float | None] = field(default_factory=dict)
    unacked: int = 0
    unacked_by_queue: dict[str, int] = field(default_factory=dict)
    workers: dict[str, dict[str, int]] = field(default_factory=dict)
    deferred: int = 0
    scheduler_last_tick: float | None = None
    articles: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    stranded: dict[str, dict[str, float]] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)
    feeds: dict[str, Any] = field(default_factory=dict)
    crawl: dict[str, int] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)  # the event stream (events_status)
    errors: dict[str, str] = field(default_factory=dict)  # part -> why it could not be read

    def to_dict(self) -> dict[str, Any]:
        now = time.time()
        tick = self.scheduler_last_tick
        return {
            "window_s": self.window_s,
            "queues": self.queues,
            "oldest_age_s": self.oldest_age_s,
            "unacked": self.unacked,
            "unacked_by_queue": self.unacked_by_queue,
            "workers": self.workers,
            "deferred": self.deferred,
            "scheduler": {
                "last_tick": tick,
                "age_s": None if tick is None else round(now - tick, 1),
            },
            "articles": self.articles,
            "labels": self.labels,
            "stages": self.stages,
            "stranded": self.stranded,
            "recovered": self.recovered,
            "feeds": self.feeds,
            "crawl": self.crawl,
            "events": self.events,
            "errors": self.errors,
        }


def _redis_part(report: StatusReport, svc: Services) -> None:
    client = svc.redis
    prefix = svc.settings.key_prefix
    report.queues = queue_depths(client)
    report.oldest_age_s = oldest_message_ages(client)
    report.unacked = unacked_count(client)
    report.unacked_by_queue = unacked_by_queue(client)
    report.workers = queue_consumers(client, prefix)
    report.deferred = svc.deferrals.count()
    report.scheduler_last_tick = scheduler_last_tick(client, prefix)
    report.crawl = svc.crawl_counters.read()


def _database_part(report: StatusReport, svc: Services) -> None:
    report.articles = svc.store.counts_by_status()
    report.labels = svc.store.counts_by_label()
    rows, report.window_s = recent_events(svc.events, report.window_s)
    report.stages = stage_window(rows, report.window_s)
    report.recovered = {}
    for row in rows:
        if row.event == RECOVERED:
            report.recovered[row.stage] = report.recovered.get(row.stage, 0) + 1
    report.feeds = feed_health(svc.feeds).to_dict()


def status_report(svc: Services, window_s: float = 300.0) -> StatusReport:
    """Everything `newsflow status` shows; a part whose store is down is left empty and its
    error recorded, the rest is still read."""
    report = StatusReport(window_s=window_s)
    parts: Mapping[str, Any] = {
        "redis": _redis_part,
        "database": _database_part,
        "stranded": lambda r, s: setattr(r, "stranded", stranded_now(s)),
        "events": lambda r, s: setattr(r, "events", events_status(s)),
    }
    for name, read in parts.items():
        try:
            read(report, svc)
        except Exception as exc:  # a dependency down is a finding, not a crash
            report.errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    return report


def events_status(svc: Services) -> dict[str, Any]:
    """The event stream: its name and length, events relayed, and terminal events the relay
    has not sent yet (its lag; docs/events.md)."""
    from workers.store.outbox import EventOutbox

    stream = svc.settings.event_stream
    pipe = svc.redis.pipeline(transaction=False)
    pipe.xlen(stream)
    pipe.hgetall(f"{stream}:stats")
    length, stats = pipe.execute()
    report: dict[str, Any] = {
        "stream": stream,
        "length": int(length),
        "undelivered": EventOutbox(svc.store.engine).undelivered(),
        **{k.decode(): int(v) for k, v in stats.items()},
    }
    if svc.settings.webhook_url:
        from workers.events.webhook import webhook_stats

        report["webhook"] = webhook_stats(svc.redis, stream)
    return report


def timeline_rows(events: list[EventRecord]) -> list[dict[str, Any]]:
    """A trace as rows with the time since the first event, for printing."""
    if not events:
        return []
    origin = events[0].at
    return [
        {
            "t_ms": round((e.at - origin).total_seconds() * 1000, 1),
            **e.to_dict(),
        }
        for e in events
    ]
