"""Queue semantics with real workers and the default settings a user gets: retries, quarantine
and replay, redelivery after a crash.

Every test starts real `newsflow worker` and `newsflow scheduler` processes against a private
Redis database and a SQLite file, and serves pages from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ScriptedSite, e2e_settings
from workers.commands.replay import replay_articles
from workers.demo.server import SITE_ROOT
from workers.demo.session import start_workers, stop_processes
from workers.pipeline import Status
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
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


def ingest(svc: Services, celery: Any, *urls: str) -> list[str]:
    report = ingest_urls(list(urls), "test", svc, CeleryPublisher(celery))
    assert len(report.queued) == len(urls)
    return report.queued


def test_transient_failures_are_retried_exactly_max_retries_times_with_the_defaults(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    """NEWSFLOW_MAX_RETRIES=5 and the default back-off (2 s doubling, ~30 s in all): a page
    that answers 503 five times and then 200 is stored; one that always answers 503 is
    quarantined after six attempts with the reason, and replay brings it back once it works."""
    settings = e2e_settings(e2e_redis_url, sqlite_url, [scripted_site.base])
    assert settings.max_retries == Settings().max_retries == 5
    svc = make_services(settings)
    celery = make_celery(settings)
    scripted_site.answer("/flaky.html", *[(503, "busy", 0.0)] * 5, (200, STORY, 0.0))
    scripted_site.answer("/down.html", (503, "busy", 0.0))
    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log)
        try:
            flaky, down = ingest(
                svc, celery, f"{scripted_site.base}/flaky.html", f"{scripted_site.base}/down.html"
            )
            wait_for_status(svc, down, {"failed"}, 180)
            wait_for_status(svc, flaky, {"stored"}, 180)
            record = svc.store.get(down)
            assert record is not None
            assert record.failed_stage == "fetch"
            assert record.status_reason == (
                f"http_503: {scripted_site.base}/down.html (gave up after 6 attempts)"
            )
            events = [e.event for e in svc.store.events(down)]
            assert events == ["article_retrying"] * 5 + ["article_failed"]
            assert scripted_site.hits_of("/down.html") == 6
            assert scripted_site.hits_of("/flaky.html") == 6

            # The site recovers; the operator replays the quarantined article.
            scripted_site.answer("/down.html", (200, STORY.replace("deep-sea", "deep sea"), 0.0))
            replayed = replay_articles(svc, celery, [down], Status.FAILED)
            assert replayed == [(down, "fetch")]
            wait_for_status(svc, down, {"stored", "duplicate"}, 120)
        finally:
            stop_processes(children)


def test_a_permanent_error_is_quarantined_without_retry(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    settings = e2e_settings(e2e_redis_url, sqlite_url, [scripted_site.base])
    svc = make_services(settings)
    celery = make_celery(settings)
    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log, types=["fetch"])
        try:
            [article_id] = ingest(svc, celery, f"{scripted_site.base}/gone.html")
            wait_for_status(svc, article_id, {"failed"}, 60)
        finally:
            stop_processes(children)
    assert [e.event for e in svc.store.events(article_id)] == ["article_failed"]
    assert scripted_site.hits_of("/gone.html") == 1


def test_a_killed_workers_article_is_delivered_again_and_stored_once(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    # The killed worker's message is gone with it (no ack emulation): the scheduler's
    # reconciler resends the article. It looks every 3 s and resends after 15 s here (defaults
    # 30 s and 120 s, covered in tests/test_reconciler.py), so the recovery fits the test.
    settings = e2e_settings(
        e2e_redis_url, sqlite_url, [scripted_site.base], reconcile_interval=3, stranded_after=15
    )
    svc = make_services(settings)
    celery = make_celery(settings)
    # The first answer hangs long enough for the worker to be killed while holding the message.
    scripted_site.answer("/slow.html", (200, STORY, 20.0), (200, STORY, 0.0))
    with (tmp_path / "workers.log").open("wb") as log:
        first = start_workers(settings, log, types=["fetch"])
        try:
            [article_id] = ingest(svc, celery, f"{scripted_site.base}/slow.html")
            deadline = time.monotonic() + 30
            while scripted_site.hits_of("/slow.html") == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scripted_site.hits_of("/slow.html") == 1
            # SIGKILL the whole worker: no chance to ack, requeue or release its stage lock.
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


def test_articles_ingested_together_travel_together_and_each_is_handled_as_if_alone(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    """Eight stories ingested in one call go through every stage in one message (the default
    NEWSFLOW_STAGE_BATCH), and each is fetched, saved, traced and logged as its own."""
    # Every page comes from one local host: at the default 1 request/s most of a batch would
    # wait for its host's turn and travel on alone (tests/integration/test_pipeline_e2e.py runs
    # the demo sites at that default). The host rate is raised so the batch stays whole.
    settings = e2e_settings(
        e2e_redis_url, sqlite_url, [scripted_site.base], fetch_host_rates="*=1000"
    )
    assert settings.stage_batch == 8
    svc = make_services(settings)
    celery = make_celery(settings)
    stories = sorted((SITE_ROOT / "ledger").glob("*-*.html"))[:8]
    for story in stories:
        scripted_site.answer(f"/{story.name}", (200, story.read_text("utf-8"), 0.0))
    log_path = tmp_path / "workers.log"
    with log_path.open("wb") as log:
        children = start_workers(settings, log)
        try:
            ids = ingest(svc, celery, *(f"{scripted_site.base}/{s.name}" for s in stories))
            for article_id in ids:
                wait_for_status(svc, article_id, {"stored", "duplicate", "skipped"}, 120)
        finally:
            stop_processes(children)
    assert {svc.store.status_of(a) for a in ids} == {"stored"}
    for article_id in ids:
        names = [e.event for e in svc.store.events(article_id)]
        assert names == [
            "article_fetched",
            "article_cleaned",
            "article_deduplicated",
            "article_classified",
            "article_stored",
        ]
    # One task per stage ran all eight: every stage event of theirs names one task id.
    lines = [
        json.loads(line)
        for line in log_path.read_text("utf-8").splitlines()
        if line.startswith("{")
    ]
    for event in ("article_fetched", "article_cleaned", "article_classified"):
        tasks = {line["task_id"] for line in lines if line.get("event") == event}
        articles = {line["article_id"] for line in lines if line.get("event") == event}
        assert articles == set(ids)
        assert len(tasks) == 1, (event, tasks)
