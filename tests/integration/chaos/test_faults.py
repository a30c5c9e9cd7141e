"""Nothing lost, under faults: a deployment run as `newsflow run`, hurt mid-run.

Each test ingests a few hundred real-shaped articles into a whole deployment (every Procfile
process under the supervisor, real Redis, a real database, a real HTTP server), does one
thing an operator dreads, and then asserts the promise: every URL ends in exactly one terminal
state, no stage result is saved twice, and the workers are up.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.integration.chaos.conftest import (
    PLUGIN,
    Deployment,
    PostgresCluster,
    RedisServer,
    assert_every_article_ended_once,
    chaos_settings,
    ingest,
    settled,
    wait_until,
)
from tests.integration.chaos.site import POISON_MARKER, serve_articles
from tests.test_fetch_support import LocalServer
from workers.services import Services
from workers.settings import Settings

# A deployment's start, a few hundred articles and a recovery take minutes on a busy 2-core
# machine; the suite's default limit of 300 s per test is for everything else.
pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(900)]

ARTICLES = 200


def run_until_settled(
    deployment: Deployment, svc: Services, ids: list[str], timeout: float = 300
) -> None:
    wait_until(lambda: settled(svc, ids), timeout, f"{len(ids)} articles to finish")
    wait_until(deployment.all_up, 60, "every process type to be up")


def test_sigkill_of_random_worker_processes_loses_nothing(
    site: LocalServer,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    urls = serve_articles(site, ARTICLES)
    settings = chaos_settings(e2e_redis_url, sqlite_url, [site.url("")])
    svc = make_services(settings)
    svc.store  # noqa: B018 - migrate before the processes race to
    deployment = Deployment(settings, tmp_path / "run.log")
    deployment.start()
    killed: list[str] = []
    try:
        wait_until(deployment.all_up, 60, "the deployment to start")
        ids = ingest(settings, urls)
        chooser = random.Random(9)
        for _ in range(8):  # a SIGKILL every 3 s, anywhere under the supervisor
            time.sleep(3)
            victims = deployment.descendants()
            pid = chooser.choice(sorted(victims))
            killed.append(victims[pid].split(" -m workers.cli ", 1)[-1][:40])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run_until_settled(deployment, svc, ids)
    finally:
        code = deployment.stop()
    assert code == 0
    assert killed
    assert_every_article_ended_once(svc, urls, ids)
    assert svc.store.counts_by_status() == {"stored": ARTICLES}


@pytest.mark.parametrize("appendonly", [True, False], ids=["aof", "no-persistence"])
def test_a_broker_restart_mid_run_loses_nothing(
    site: LocalServer,
    sqlite_url: str,
    tmp_path: Path,
    appendonly: bool,
    make_services: Callable[[Settings], Services],
) -> None:
    """With AOF the queues survive the restart; without persistence they are gone, and the
    reconciler sends every stranded article again from the store."""
    broker = RedisServer(tmp_path, appendonly=appendonly)
    broker.start()
    urls = serve_articles(site, ARTICLES)
    settings = chaos_settings(broker.url, sqlite_url, [site.url("")])
    svc = make_services(settings)
    svc.store  # noqa: B018
    deployment = Deployment(settings, tmp_path / "run.log")
    deployment.start()
    try:
        wait_until(deployment.all_up, 60, "the deployment to start")
        ids = ingest(settings, urls)
        wait_until(
            lambda: svc.store.counts_by_status().get("stored", 0) > 10, 120, "work under way"
        )
        broker.stop()
        time.sleep(5)
        broker.start()
        run_until_settled(deployment, svc, ids)
    finally:
        code = deployment.stop()
        broker.close()
    assert code == 0
    assert_every_article_ended_once(svc, urls, ids)
    assert svc.store.counts_by_status() == {"stored": ARTICLES}


@pytest.mark.postgres
def test_the_database_down_for_30_seconds_loses_nothing(
    site: LocalServer,
    e2e_redis_url: str,
    private_postgres: PostgresCluster,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    urls = serve_articles(site, ARTICLES)
    settings = chaos_settings(e2e_redis_url, private_postgres.url, [site.url("")])
    svc = make_services(settings)
    svc.store  # noqa: B018
    deployment = Deployment(settings, tmp_path / "run.log")
    deployment.start()
    try:
        wait_until(deployment.all_up, 60, "the deployment to start")
        ids = ingest(settings, urls)
        wait_until(
            lambda: svc.store.counts_by_status().get("stored", 0) > 10, 120, "work under way"
        )
        private_postgres.stop()
        time.sleep(30)
        assert deployment.all_up()  # nobody died of it
        private_postgres.start()
        run_until_settled(deployment, svc, ids)
    finally:
        code = deployment.stop()
    assert code == 0
    assert_every_article_ended_once(svc, urls, ids)
    assert svc.store.counts_by_status() == {"stored": ARTICLES}


def test_messages_deleted_from_the_broker_by_hand_are_recovered_by_the_reconciler(
    site: LocalServer,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    urls = serve_articles(site, 50)
    settings = chaos_settings(e2e_redis_url, sqlite_url, [site.url("")])
    svc = make_services(settings)
    svc.store  # noqa: B018
    ids = ingest(settings, urls)  # nothing consumes yet: the messages wait in the fetch queue
    client = redis.Redis.from_url(e2e_redis_url)
    assert client.llen("fetch") == -(-50 // settings.stage_batch)  # 7 messages of <= 8 articles
    client.delete("fetch")  # an operator's mistake, a flushed Redis...
    deployment = Deployment(settings, tmp_path / "run.log")
    deployment.start()
    try:
        run_until_settled(deployment, svc, ids, timeout=240)
    finally:
        code = deployment.stop()
    assert code == 0
    assert svc.store.counts_by_status() == {"stored": 50}
    recovered = [a for a in ids if "article_recovered" in [e.event for e in svc.store.events(a)]]
    assert sorted(recovered) == sorted(ids)
    assert_every_article_ended_once(svc, urls, ids)


def test_a_page_that_kills_its_worker_is_quarantined_as_worker_lost(
    site: LocalServer,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    urls = serve_articles(site, 30, poison=frozenset({7}))
    settings = chaos_settings(e2e_redis_url, sqlite_url, [site.url("")])
    svc = make_services(settings)
    svc.store  # noqa: B018
    env = {"PYTHONPATH": str(PLUGIN), "NEWSFLOW_CHAOS_POISON": "1"}
    deployment = Deployment(settings, tmp_path / "run.log", env)
    deployment.start()
    try:
        wait_until(deployment.all_up, 60, "the deployment to start")
        ids = ingest(settings, urls)
        run_until_settled(deployment, svc, ids, timeout=240)
    finally:
        code = deployment.stop()
    assert code == 0
    [poisoned] = svc.store.find(urls[7])
    assert poisoned.status == "failed"
    assert poisoned.failed_stage == "clean"
    max_deliveries = settings.max_deliveries
    assert (poisoned.status_reason or "").startswith(
        f"worker_lost: delivered {max_deliveries + 1} times"
    )
    assert svc.store.counts_by_status() == {"stored": 29, "failed": 1}


def test_the_chaos_plugin_crashes_on_the_site_s_marker() -> None:
    plugin = (PLUGIN / "sitecustomize.py").read_text("utf-8")
    assert f'POISON_MARKER = "{POISON_MARKER}"' in plugin
