"""Queue semantics with real workers: retries, quarantine and replay, redelivery after a crash.

Every test starts real `celery worker` processes against a private Redis database and a SQLite
file, and serves pages from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ScriptedSite, e2e_settings
from workers.app import create_app
from workers.demo.server import SITE_ROOT
from workers.demo.session import start_workers, stop_processes
from workers.queueing import enqueue_stage
from workers.services import Services
from workers.sources import ingest_urls

pytestmark = pytest.mark.integration

STORY = (SITE_ROOT / "ledger" / "science-deep-sea-species.html").read_text("utf-8")


def wait_for_status(svc: Services, article_id: str, statuses: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = svc.store.status_of(article_id)
        if status in statuses:
            return status
        time.sleep(0.2)
    raise AssertionError(f"article {article_id} stuck at {status}, wanted {statuses}")


def ingest(svc: Services, url: str) -> str:
    celery = create_app(svc.settings)
    report = ingest_urls([url], "test", svc, lambda s, a: enqueue_stage(celery, s, a))
    assert len(report.queued) == 1
    return report.queued[0]


def test_transient_errors_are_retried_then_quarantined_and_replay_recovers(
    scripted_site: ScriptedSite, e2e_redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(e2e_redis_url, sqlite_url, max_retries=2)
    svc = Services(settings)
    scripted_site.answer("/story.html", (503, "busy", 0.0))
    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log)
        try:
            article_id = ingest(svc, f"{scripted_site.base}/story.html")
            wait_for_status(svc, article_id, {"failed"}, 60)
            record = svc.store.get(article_id)
            assert record is not None
            assert record.failed_stage == "fetch"
            assert "503" in (record.status_reason or "")
            assert "gave up after 3 attempts" in (record.status_reason or "")
            events = [e.event for e in svc.store.events(article_id)]
            assert events == ["article_retrying", "article_retrying", "article_failed"]
            assert scripted_site.hits_of("/story.html") == 3

            # The site recovers; the operator replays the quarantined article.
            scripted_site.answer("/story.html", (200, STORY, 0.0))
            from workers.commands.replay import replay_articles

            replayed = replay_articles(svc, create_app(settings), [article_id], "failed")
            assert replayed == [(article_id, "fetch")]
            wait_for_status(svc, article_id, {"stored"}, 90)
        finally:
            stop_processes(children)


def test_permanent_error_is_quarantined_without_retry(
    scripted_site: ScriptedSite, e2e_redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(e2e_redis_url, sqlite_url)
    svc = Services(settings)
    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log, types=["fetch"])
        try:
            article_id = ingest(svc, f"{scripted_site.base}/gone.html")
            wait_for_status(svc, article_id, {"failed"}, 60)
        finally:
            stop_processes(children)
    assert [e.event for e in svc.store.events(article_id)] == ["article_failed"]
    assert scripted_site.hits_of("/gone.html") == 1


def test_a_killed_worker_s_message_is_redelivered_and_the_article_stored_once(
    scripted_site: ScriptedSite, e2e_redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    # A short visibility timeout so the unacked message comes back within the test.
    settings = e2e_settings(e2e_redis_url, sqlite_url, visibility_timeout=4)
    svc = Services(settings)
    # The first answer hangs long enough for the worker to be killed while holding the message.
    scripted_site.answer("/slow.html", (200, STORY, 20.0), (200, STORY, 0.0))
    with (tmp_path / "workers.log").open("wb") as log:
        first = start_workers(settings, log, types=["fetch"])
        try:
            article_id = ingest(svc, f"{scripted_site.base}/slow.html")
            deadline = time.monotonic() + 30
            while scripted_site.hits_of("/slow.html") == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scripted_site.hits_of("/slow.html") == 1
            # SIGKILL the whole worker (parent and pool): no chance to ack or requeue.
            for child in first.values():
                child.send_signal(signal.SIGKILL)
                child.wait()
        finally:
            stop_processes(first)
        second = start_workers(settings, log)
        try:
            wait_for_status(svc, article_id, {"stored"}, 120)
        finally:
            stop_processes(second)
    events = [e.event for e in svc.store.events(article_id)]
    assert events.count("article_fetched") == 1
    assert events[-1] == "article_stored"
    assert scripted_site.hits_of("/slow.html") == 2
