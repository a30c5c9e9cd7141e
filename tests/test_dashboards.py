"""The Grafana dashboard and the Prometheus alert rules ask only for metrics the collector
serves: every metric name in every panel's and rule's PromQL is in a real scrape of a deployment
with something in every metric (real Redis, a real SQLite store, real stage steps)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from celery import Celery

from tests.stage_harness import populate_deployment
from tests.test_metrics import scrape
from workers.metrics import NewsflowCollector
from workers.pipeline import QUEUES
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "config" / "prometheus-alerts.yaml"
METRIC = re.compile(r"\bnewsflow_[a-z_]+\b")


@pytest.fixture
def served(
    settings: Settings,
    redis_client: redis.Redis,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Celery],
) -> set[str]:
    """Every sample name of one scrape of a populated deployment."""
    broker_keys = [*QUEUES, "unacked", "unacked_index"]
    redis_client.delete(*broker_keys)
    svc = make_services(settings)
    try:
        populate_deployment(svc, redis_client, CeleryPublisher(make_celery(settings)))
        return set(scrape(NewsflowCollector(svc, from_start=True)))
    finally:
        redis_client.delete(*broker_keys)


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_rule_asks_for_metrics_the_collector_serves(served: set[str]) -> None:
    for rule in alert_rules():
        used = set(METRIC.findall(str(rule["expr"])))
        assert used, rule["alert"]
        assert used <= served, (rule["alert"], sorted(used - served))


DASHBOARD = ROOT / "config" / "grafana" / "newsflow.json"


def dashboard_panels() -> list[dict[str, Any]]:
    return list(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"])


def test_every_dashboard_panel_asks_for_metrics_the_collector_serves(served: set[str]) -> None:
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = set(METRIC.findall(target["expr"]))
            assert used, (panel["title"], target["expr"])
            assert used <= served, (panel["title"], sorted(used - served))


def test_the_dashboard_is_importable_as_it_is() -> None:
    """Unique panel ids, every panel placed on the 24-column grid and reading the dashboard's
    Prometheus data source variable, so an import asks for nothing but the data source."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"]
    assert dashboard["title"] == "newsflow"
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_the_dashboard_shows_what_operators_asked_for() -> None:
    """Throughput per stage, outcomes, p95 latency from the histograms, queue depth and age,
    workers per queue, stranded articles, feeds and the scheduler's tick."""
    exprs = " ".join(t["expr"] for p in dashboard_panels() for t in p.get("targets", []))
    for needed in (
        "newsflow_stage_events_total",
        "histogram_quantile(0.95, sum by (stage, le) (rate(newsflow_stage_duration_seconds_bucket",
        "histogram_quantile(0.95, sum by (stage, le) (rate(newsflow_queue_wait_seconds_bucket",
        "newsflow_queue_depth",
        "newsflow_queue_oldest_message_age_seconds",
        "newsflow_queue_workers",
        "newsflow_articles_stranded",
        "newsflow_feeds",
        "newsflow_feed_crawls_total",
        "newsflow_scheduler_last_tick_timestamp_seconds",
    ):
        assert needed in exprs, needed


def test_the_metrics_table_of_the_operations_doc_is_what_a_scrape_serves(
    served: set[str],
) -> None:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(newsflow_[a-z_]+)` \| (gauge|counter|histogram) \|", doc, re.M)
    documented = set()
    for name, kind in rows:
        documented |= (
            {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
        )
    # Served only while a part of the scrape fails, or while a webhook is set.
    conditional = {"newsflow_collector_errors", "newsflow_webhook_failures_total"}
    assert conditional <= documented
    served_here = served | conditional
    assert served_here - documented == set(), "served, not documented"
    assert documented - served_here == set(), "documented, not served"
