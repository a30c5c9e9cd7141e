"""With JSON logging, every line a deployment writes is JSON: `newsflow run` with every process
type (the supervisor, workers of every pool, the scheduler) ingests the demo sites and is stopped
with SIGTERM; each line of its stdout and stderr (the children's included) parses as a JSON
object. While it runs, the workers' heartbeats say which queues each consumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import e2e_settings, register_demo_feeds
from workers.demo.server import DemoSites, serve_demo_sites
from workers.demo.session import settings_env, wait_until_settled
from workers.observe import queue_consumers
from workers.pipeline import QUEUES
from workers.services import Services
from workers.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sites() -> Iterator[DemoSites]:
    running = serve_demo_sites()
    yield running
    running.stop()


def json_lines(path: Path) -> list[dict[str, object]]:
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"{path.name} line {n} is not JSON: {line[:300]!r}")
        assert isinstance(record, dict), (path.name, n, line[:300])
        assert {"event", "level", "timestamp"} <= record.keys(), (path.name, n, line[:300])
        records.append(record)
    return records


def test_every_line_a_deployment_writes_is_json(
    sites: DemoSites,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
) -> None:
    settings = e2e_settings(e2e_redis_url, sqlite_url, sites.bases.values())
    svc = make_services(settings)
    feed_urls = register_demo_feeds(svc, sites)
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "run"],
            env=settings_env(settings),
            cwd=REPO,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            assert wait_until_settled(svc.store, svc.feeds, feed_urls, 240), (
                svc.store.counts_by_status()
            )
            consumers = queue_consumers(svc.redis, settings.key_prefix)
            assert all(consumers[q]["workers"] >= 1 for q in QUEUES), consumers
            time.sleep(2)  # a few idle scheduler ticks
        finally:
            run.send_signal(signal.SIGTERM)
            code = run.wait(timeout=90)
    assert code == 0
    records = json_lines(out) + json_lines(err)
    events = [r["event"] for r in records]
    assert "worker_started" in events
    assert "article_stored" in events
    assert "feed_crawled" in events
    assert any("Warm shutdown" in str(e) for e in events), "Celery's shutdown line, as JSON"
    # Idle scheduler ticks are debug lines, not written at the default level.
    idle = [r for r in records if r["event"] == "scheduler_ticked" and r.get("due") == 0]
    assert idle == []
