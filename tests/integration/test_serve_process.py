"""`newsflow serve` as an operator starts it: a real process on a free port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import e2e_settings
from tests.integration.serving import served

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.headers["Content-Type"], refused.read()


def test_serve_answers_health_readiness_metrics_and_the_page(
    e2e_redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(e2e_redis_url, sqlite_url)
    with served(settings, tmp_path / "serve.log") as base:
        assert get(base + "healthz")[0] == 200
        status, _, body = get(base + "readyz")
        assert (status, json.loads(body)) == (200, {"redis": "ok", "database": "ok"})
        status, content_type, body = get(base + "metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        assert b"newsflow_redis_up 1.0" in body
        assert b'newsflow_queue_depth{queue="fetch"}' in body
        status, content_type, body = get(base + "")
        assert (status, content_type) == (200, "text/html; charset=utf-8")
        assert b"<title>newsflow</title>" in body
        status, _, body = get(base + "api/overview")
        assert status == 200
        assert json.loads(body)["dependencies"] == {"redis": "ok", "database": "ok"}


def test_serve_with_redis_down_reports_it_and_stays_up(sqlite_url: str, tmp_path: Path) -> None:
    from tests.test_serve import closed_port

    settings = e2e_settings(f"redis://127.0.0.1:{closed_port()}/0", sqlite_url)
    with served(settings, tmp_path / "serve.log") as base:
        assert get(base + "healthz")[0] == 200
        status, _, body = get(base + "readyz")
        assert status == 503
        assert json.loads(body)["redis"].startswith("redis unavailable")
        status, _, body = get(base + "metrics")
        assert status == 200
        assert b"newsflow_redis_up 0.0" in body
        status, _, body = get(base + "api/overview")
        assert status == 200
        assert "error" in json.loads(body)["queues"]


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_an_idle_worker_is_counted_on_its_queue_from_the_start(
    e2e_redis_url: str, sqlite_url: str, tmp_path: Path, pool: str
) -> None:
    """Its heartbeat starts with the process (not with its first task) and names its queue;
    a prefork pool's processes each beat, its parent does not."""
    import subprocess
    import sys
    import time

    import redis

    from tests.integration.serving import REPO
    from workers.adapters.stage_guard import live_processes, workers_per_queue
    from workers.demo.session import settings_env

    settings = e2e_settings(e2e_redis_url, sqlite_url)
    client = redis.Redis.from_url(e2e_redis_url)
    argv = [sys.executable, "-m", "workers.cli", "worker", "--queues", "dedup", "--pool", pool]
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [*argv, "--concurrency", "2"],
            env=settings_env(settings),
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 90
        counts: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline:
            live = live_processes(client, settings.key_prefix)
            counts = workers_per_queue(live, ["dedup", "clean"])
            if counts["dedup"]["processes"] == (1 if pool == "threads" else 2):
                break
            time.sleep(0.5)
        assert counts["dedup"]["processes"] == (1 if pool == "threads" else 2), counts
        assert counts["clean"]["processes"] == 0
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        client.close()
