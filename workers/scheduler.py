"""The scheduler: one periodic tick that sends due feeds to the crawl queue.

Run as many scheduler processes as you like for availability: a Redis lock lets only one act per
tick, and each due feed is claimed with a conditional UPDATE, so a feed is enqueued once per slot
even if two ticks overlap. The tick's cost grows with the number of DUE feeds (an indexed range
query), not with the number of feeds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import structlog

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
    log.info(
        "scheduler_ticked",
        due=len(claimed),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return len(claimed)


def run_scheduler(
    svc: Services,
    enqueue_crawl: Callable[[str], None],
    tick_seconds: float,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
    owner = f"{uuid.uuid4().hex[:8]}"
    log.info("scheduler_started", tick_seconds=tick_seconds, owner=owner)
    while not stop.is_set():
        try:
            scheduler_tick(svc, enqueue_crawl, tick_seconds, owner)
        except Exception:  # keep ticking through a database or Redis blip
            log.exception("scheduler_tick_failed")
        stop.wait(tick_seconds)
