"""Prometheus metrics for dashboards, collected at scrape time from Redis and the store.

Workers count stage outcomes into Redis (workers.tracing.Metrics), so one exporter sees every
worker on every machine and prefork children need no multiprocess set-up.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers.observe import events_status, queue_depths, stranded_now, unacked_count
from workers.services import Services
from workers.tracing import Metrics


class NewsflowCollector(Collector):
    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "newsflow_queue_depth", "Messages waiting in a stage queue", labels=["queue"]
        )
        for queue, waiting in queue_depths(self._svc.redis).items():
            depth.add_metric([queue], waiting)
        yield depth
        yield GaugeMetricFamily(
            "newsflow_messages_unacked",
            "Messages delivered to workers and not yet acknowledged",
            value=unacked_count(self._svc.redis),
        )
        yield GaugeMetricFamily(
            "newsflow_deliveries_deferred",
            "Deliveries put off in Redis until due (retries, a polite host's turn)",
            value=self._svc.deferrals.count(),
        )
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
        yield stranded
        yield oldest
        articles = GaugeMetricFamily(
            "newsflow_articles", "Articles in the store by status", labels=["status"]
        )
        for status, stored in self._svc.store.counts_by_status().items():
            articles.add_metric([status], stored)
        yield articles

        snap = Metrics(self._svc.redis, self._svc.settings.key_prefix).snapshot()
        events = CounterMetricFamily(
            "newsflow_stage_events",
            "Stage events by stage and outcome",
            labels=["stage", "outcome"],
        )
        for key, count in snap["events"].items():
            stage, outcome = key.split("|", 1)
            events.add_metric([stage, outcome], count)
        yield events
        duration = CounterMetricFamily(
            "newsflow_stage_duration_seconds",
            "Total time spent in each stage",
            labels=["stage"],
        )
        for stage, total_ms in snap["duration_ms_sum"].items():
            duration.add_metric([stage], total_ms / 1000)
        yield duration
        runs = CounterMetricFamily(
            "newsflow_stage_runs", "Stage runs with a measured duration", labels=["stage"]
        )
        for stage, count in snap["duration_count"].items():
            runs.add_metric([stage], count)
        yield runs
        wait = CounterMetricFamily(
            "newsflow_queue_wait_seconds",
            "Total time articles waited in each stage's queue",
            labels=["stage"],
        )
        for stage, total_ms in snap["queue_wait_ms_sum"].items():
            wait.add_metric([stage], total_ms / 1000)
        yield wait
        recovered = CounterMetricFamily(
            "newsflow_articles_recovered",
            "Stranded articles the reconciler sent to their stage again",
            labels=["stage"],
        )
        for stage, count in snap["recovered"].items():
            recovered.add_metric([stage], count)
        yield recovered
        yield from _event_metrics(self._svc)


def _event_metrics(svc: Services) -> Iterator[Metric]:
    """The event stream (issue 14; kept apart so the collector above can change freely)."""
    events = events_status(svc)
    yield GaugeMetricFamily(
        "newsflow_events_undelivered",
        "Terminal article events in the store the relay has not put on the stream yet",
        value=events["undelivered"],
    )
    if "webhook" in events:
        yield CounterMetricFamily(
            "newsflow_webhook_failures",
            "POSTs of events to NEWSFLOW_WEBHOOK_URL that failed (each is retried)",
            value=events["webhook"]["failures"],
        )
