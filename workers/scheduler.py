"""The scheduler process: everything that happens because time passed.

- The feed tick: due feeds go to the crawl queue. A Redis lock lets one scheduler act per tick,
  and each due feed is claimed with a conditional UPDATE, so a feed is enqueued once per slot
  even if two ticks overlap. Its cost grows with the number of DUE feeds, not of feeds.
- The dispatcher (`workers.dispatcher`, a thread of its own): deferred deliveries (retries, a
  polite host's turn) go back on their queue when due.
- The reconciler (`workers.reconciler`): stranded articles are found and sent again.
- The event relay (`workers.events.relay`, a thread of its own): articles' ends go from the store
  to the event stream; with NEWSFLOW_WEBHOOK_URL set, the webhook sink (`workers.events.webhook`,
  a thread too) POSTs them on.

Run as many scheduler processes as you like for availability; every part is safe to run twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import structlog

from workers.dispatcher import run_dispatcher
from workers.healthcheck import touch as touch_health_file
from workers.pipeline import StagePublisher
from workers.reconciler import ReconcileReport, RedisQueueProbe, reconcile
from workers.services import Services

log = structlog.get_logger("newsflow.scheduler")

# Feeds claimed per tick: enqueueing 5,000 crawl messages takes well under a second, and a
# backlog larger than that is worked off over the next ticks instead of in one long burst.
CLAIM_BATCH = 5000


def scheduler_tick(
    svc: Services, enqueue_crawl: Callable[[str], None], tick_seconds: float, owner: str
) -> int | None:
    """Enqueue due feeds if this process holds the tick; None when another scheduler acted."""
    lock_key = svc.key("scheduler", "tick")
    # Held for just under one period: the next tick, by whichever scheduler, may act again.
    ttl_ms = max(100, int(tick_seconds * 900))
    if not svc.redis.set(lock_key, owner, nx=True, px=ttl_ms):
        return None
    started = time.perf_counter()
    claimed = svc.feeds.claim_due(limit=CLAIM_BATCH)
    for url in claimed:
        enqueue_crawl(url)
    # An idle tick every few seconds is noise in production logs: debug level.
    (log.info if claimed else log.debug)(
        "scheduler_ticked",
        due=len(claimed),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    svc.redis.set(svc.key("scheduler", "last_tick"), f"{time.time():.3f}")
    return len(claimed)


def reconcile_once(svc: Services, publisher: StagePublisher, owner: str) -> ReconcileReport | None:
    """One reconciler pass, if no other scheduler ran one within the interval."""
    interval = svc.settings.reconcile_interval
    lock_key = svc.key("scheduler", "reconcile")
    if not svc.redis.set(lock_key, owner, nx=True, px=max(100, int(interval * 900))):
        return None
    report = reconcile(
        svc.store,
        RedisQueueProbe(svc.redis),
        svc.stage_guard,
        svc.deferrals,
        publisher,
        stranded_after=svc.settings.stranded_after,
        worker=f"scheduler:{owner}",
    )
    (log.warning if report.resent else log.debug)(
        "reconciler_passed", examined=report.examined, recovered=len(report.resent)
    )
    return report


def run_scheduler(
    svc: Services,
    enqueue_crawl: Callable[[str], None],
    publisher: StagePublisher,
    tick_seconds: float,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
    owner = f"{uuid.uuid4().hex[:8]}"
    log.info("scheduler_started", tick_seconds=tick_seconds, owner=owner)
    dispatcher = threading.Thread(
        target=run_dispatcher,
        args=(svc.deferrals, publisher, stop),
        name="newsflow-dispatcher",
        daemon=True,
    )
    dispatcher.start()
    helpers = [dispatcher, *_start_event_threads(svc, owner, stop)]
    next_reconcile = time.monotonic()
    while not stop.is_set():
        touch_health_file()  # the container's liveness probe (workers.healthcheck)
        try:
            scheduler_tick(svc, enqueue_crawl, tick_seconds, owner)
        except Exception:  # keep ticking through a database or Redis blip
            log.exception("scheduler_tick_failed")
        if time.monotonic() >= next_reconcile:
            next_reconcile = time.monotonic() + svc.settings.reconcile_interval
            try:
                reconcile_once(svc, publisher, owner)
            except Exception:
                log.exception("reconciler_failed")
        stop.wait(min(tick_seconds, max(0.1, next_reconcile - time.monotonic())))
    for thread in helpers:
        thread.join(timeout=5)


def _start_event_threads(
    svc: Services, owner: str, stop: threading.Event
) -> list[threading.Thread]:
    from workers.events.relay import run_relay_for

    threads = [
        threading.Thread(
            target=run_relay_for,
            args=(svc, owner, stop),
            name="newsflow-event-relay",
            daemon=True,
        )
    ]
    if svc.settings.webhook_url:
        from workers.events.webhook import run_webhook_sink

        threads.append(
            threading.Thread(
                target=run_webhook_sink,
                args=(svc, owner, stop),
                name="newsflow-webhook",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    return threads
