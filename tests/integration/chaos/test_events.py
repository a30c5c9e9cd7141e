"""Events out under faults: a whole deployment (`newsflow run`) with worker processes and the
scheduler (the event relay) SIGKILLed mid-run, and a consumer group reading the stream the whole
time. At the end every article has exactly one distinct event id on the stream, whatever was
sent twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.integration.chaos.conftest import (
    Deployment,
    assert_every_article_ended_once,
    chaos_settings,
    ingest,
    settled,
    wait_until,
)
from tests.integration.chaos.site import serve_articles
from tests.test_fetch_support import LocalServer
from workers.services import Services
from workers.settings import Settings
from workers.store.outbox import EventOutbox

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.timeout(300)]

ARTICLES = 60
GROUP = "chaos-consumer"


class GroupConsumer:
    """A consumer group member in a thread: reads new entries (and takes over any left pending
    by others), records each envelope, acknowledges it."""

    def __init__(self, url: str, stream: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.stream = stream
        self.received: list[dict[str, object]] = []
        self.stop = threading.Event()
        self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            _, claimed, *_ = self.client.xautoclaim(self.stream, GROUP, "c", 5000, "0-0")
            new = self.client.xreadgroup(GROUP, "c", {self.stream: ">"}, count=50, block=300)
            for entry_id, fields in claimed + (new[0][1] if new else []):
                self.received.append(json.loads(fields[b"event"]))
                self.client.xack(self.stream, GROUP, entry_id)

    def __enter__(self) -> GroupConsumer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.close()


def kill_one(deployment: Deployment, wanted: str) -> str:
    victims = {pid: cmd for pid, cmd in deployment.descendants().items() if wanted in cmd}
    pid = max(victims)  # the newest: a pool child where there is one
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return victims[pid]


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_workers_and_the_relay_killed_mid_run_leave_one_event_id_per_article(
    database: str,
    site: LocalServer,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    make_services: Callable[[Settings], Services],
) -> None:
    """On PostgreSQL, concurrent workers commit event rows out of id order: the relay must
    still send each one."""
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_url")
    urls = serve_articles(site, ARTICLES)
    settings = chaos_settings(e2e_redis_url, url, [site.url("")])
    svc = make_services(settings)
    outbox = EventOutbox(svc.store.engine)  # migrates before the processes race to
    deployment = Deployment(settings, tmp_path / "run.log")
    killed: list[str] = []
    with GroupConsumer(e2e_redis_url, settings.event_stream) as consumer:
        deployment.start()
        try:
            wait_until(deployment.all_up, 60, "the deployment to start")
            ids = ingest(settings, urls)
            wait_until(lambda: len(consumer.received) >= 5, 120, "the first events")
            killed.append(kill_one(deployment, "--queues clean"))
            killed.append(kill_one(deployment, "workers.cli scheduler"))  # the relay
            time.sleep(2)
            killed.append(kill_one(deployment, "--queues classify"))
            wait_until(lambda: settled(svc, ids), 180, f"{ARTICLES} articles to finish")
            wait_until(lambda: outbox.undelivered() == 0, 60, "the relay to catch up")
            wait_until(
                lambda: {e["subject"] for e in consumer.received} >= set(ids),
                30,
                "the consumer to read every article's event",
            )
        finally:
            code = deployment.stop()
    assert code == 0
    assert len(killed) == 3
    assert_every_article_ended_once(svc, urls, ids)
    event_ids: dict[str, set[str]] = defaultdict(set)
    for envelope in consumer.received:
        event_ids[str(envelope["subject"])].add(str(envelope["id"]))
    assert set(event_ids) == set(ids)
    assert all(len(v) == 1 for v in event_ids.values()), {
        k: v for k, v in event_ids.items() if len(v) != 1
    }
    assert {e["type"] for e in consumer.received} == {"newsflow.article.stored"}
