"""Read-only views for operators: queue depths, counts by status, stage metrics, traces.

Shared by `newsflow status`, `newsflow trace` and the Prometheus exporter so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from workers.pipeline import QUEUES
from workers.reconciler import RedisQueueProbe, find_stranded, stranded_summary
from workers.services import Services
from workers.store import EventRecord
from workers.tracing import Metrics

# kombu's Redis transport keeps prioritised messages in sibling lists "<queue>\x06\x16<n>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


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


@dataclass(frozen=True, slots=True)
class StatusReport:
    queues: dict[str, int]
    unacked: int
    deferred: int
    articles: dict[str, int]
    labels: dict[str, int]
    stages: dict[str, dict[str, Any]]
    stranded: dict[str, dict[str, float]]
    recovered: dict[str, int]
    events: dict[str, Any] = field(default_factory=dict)  # the event stream (events_status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queues": self.queues,
            "unacked": self.unacked,
            "deferred": self.deferred,
            "articles": self.articles,
            "labels": self.labels,
            "stages": self.stages,
            "stranded": self.stranded,
            "recovered": self.recovered,
            "events": self.events,
        }


def stage_summary(metrics: Metrics) -> dict[str, dict[str, Any]]:
    snap = metrics.snapshot()
    stages: dict[str, dict[str, Any]] = {}
    for key, count in snap["events"].items():
        stage, outcome = key.split("|", 1)
        stages.setdefault(stage, {"outcomes": {}})["outcomes"][outcome] = int(count)
    for stage, total in snap["duration_ms_sum"].items():
        n = snap["duration_count"].get(stage, 0)
        entry = stages.setdefault(stage, {"outcomes": {}})
        entry["mean_duration_ms"] = round(total / n, 2) if n else None
        waited = snap["queue_wait_ms_sum"].get(stage)
        entry["mean_queue_wait_ms"] = round(waited / n, 2) if n and waited is not None else None
    return stages


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


def status_report(svc: Services) -> StatusReport:
    client = svc.redis
    metrics = Metrics(client, svc.settings.key_prefix)
    snap = metrics.snapshot()
    return StatusReport(
        queues=queue_depths(client),
        unacked=unacked_count(client),
        deferred=svc.deferrals.count(),
        articles=svc.store.counts_by_status(),
        labels=svc.store.counts_by_label(),
        stages=stage_summary(metrics),
        stranded=stranded_now(svc),
        recovered={stage: int(n) for stage, n in snap["recovered"].items()},
        events=events_status(svc),
    )


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
