"""The Grafana dashboard and the Prometheus alert rules ask only for metrics the collector
serves: every metric name in every panel's and rule's PromQL is in a real scrape of a deployment
with something in every metric (real Redis, a real SQLite store, real stage steps)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

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
    sqlite_url: str,
    redis_url: str,
    key_prefix: str,
    redis_client: redis.Redis,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Celery],
) -> set[str]:
    """Every sample name of one scrape of a populated deployment."""
    broker_keys = [*QUEUES, "unacked", "unacked_index"]
    redis_client.delete(*broker_keys)
    settings = Settings().with_overrides(
        redis_url=redis_url, database_url=sqlite_url, key_prefix=key_prefix
    )
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
