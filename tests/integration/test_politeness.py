"""A one-site backlog is fetched completely, at the site's rate, without spending retries and
without holding up other sites: real fetch worker and scheduler processes, real Redis, a real
HTTP server answering as two hosts (127.0.0.1 and localhost).

This is the scaled-down twin of `benchmarks/politeness.py` (5,000 URLs of one host at
2 requests/s beside another host at full speed); the numbers are in docs/operations.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ScriptedSite, allow
from tests.integration.conftest import e2e_settings as settings_for
from workers.demo.session import start_workers, stop_processes
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
from workers.sources import ingest_urls

pytestmark = pytest.mark.integration

PAGE = "<html><head><title>t</title></head><body><p>A story.</p></body></html>"
BACKLOG = 60  # URLs of the busy host
BUSY_RATE = 4.0  # its requests per second: 60 URLs take 15 s
OTHERS = 8  # URLs of another host, at the default 1 request/s


def test_a_one_host_backlog_is_fetched_at_its_rate_while_another_host_keeps_flowing(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    base = scripted_site.base
    other_base = base.replace("127.0.0.1", "localhost")
    scripted_site.server.routes["/robots.txt"] = lambda h: _send_text(h, "User-agent: *\n")
    for n in range(BACKLOG):
        scripted_site.answer(f"/busy/{n}.html", (200, PAGE, 0.0))
    for n in range(OTHERS):
        scripted_site.answer(f"/other/{n}.html", (200, PAGE, 0.0))
    # The busy host gets 4 requests/s (instead of the default 1) to keep the test short; the
    # other host keeps the default.
    settings = settings_for(
        e2e_redis_url,
        sqlite_url,
        [base, other_base],
        fetch_host_rates=f"*=1,127.0.0.1={BUSY_RATE:g}",
    )
    assert allow(other_base).startswith("localhost:")
    svc = make_services(settings)
    publisher = CeleryPublisher(make_celery(settings))
    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log, types=["fetch", "scheduler"])
        try:
            busy = ingest_urls(
                [f"{base}/busy/{n}.html" for n in range(BACKLOG)], "busy", svc, publisher
            ).queued
            others = ingest_urls(
                [f"{other_base}/other/{n}.html" for n in range(OTHERS)], "other", svc, publisher
            ).queued
            _wait_fetched(svc, busy + others, timeout=120)
        finally:
            stop_processes(children)

    hits = [h for h in scripted_site.server.hits if h.path.endswith(".html")]
    busy_hits = sorted(h.at for h in hits if h.headers.get("host", "").startswith("127.0.0.1"))
    other_hits = sorted(h.at for h in hits if h.headers.get("host", "").startswith("localhost"))
    # Every URL fetched exactly once: no failures, no retries, nothing fetched twice.
    assert (len(busy_hits), len(other_hits)) == (BACKLOG, OTHERS)
    for article_id in busy + others:
        names = [e.event for e in svc.store.events(article_id)]
        assert "article_retrying" not in names
        assert names[-1] == "article_fetched"
    # At the busy host's rate, never faster. The limiter spaces request starts exactly; what the
    # server sees also carries thread scheduling jitter (on a loaded machine two requests can
    # land together), so the rate is checked over windows: in any 2 s at most one request more
    # than 4/s allows (an unlimited fetch sends all 60 within a second).
    interval = 1 / BUSY_RATE
    assert all(
        sum(1 for t in busy_hits if start <= t < start + 2.0) <= 2 * BUSY_RATE + 1
        for start in busy_hits
    )
    span = busy_hits[-1] - busy_hits[0]
    assert (BACKLOG - 1) * interval * 0.95 <= span <= (BACKLOG - 1) * interval * 2
    # ...while the other host's articles, queued behind the whole backlog, went at their own
    # rate (1/s) from the start instead of waiting for the backlog to drain.
    assert other_hits[0] - busy_hits[0] < 5
    assert other_hits[-1] - other_hits[0] <= (OTHERS - 1) * 1.0 * 1.5 + 2
    assert other_hits[-1] < busy_hits[-1] - 3


def _send_text(handler: object, body: str) -> None:
    from tests.test_fetch_support import send

    send(handler, 200, body.encode(), {"Content-Type": "text/plain"})  # type: ignore[arg-type]


def _wait_fetched(svc: Services, article_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = {svc.store.status_of(a) for a in article_ids}
        if statuses == {"fetched"}:
            return
        time.sleep(0.5)
    counts = {s: [svc.store.status_of(a) for a in article_ids].count(s) for s in statuses}
    raise AssertionError(f"not all fetched after {timeout} s: {counts}")
