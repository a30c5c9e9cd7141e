"""The dispatcher: deferred deliveries go back on their stage queue when they are due.

Retries, a polite host's next slot and waits for our own database all put a delivery off in
Redis (`workers.adapters.deferrals`). The scheduler process runs `run_dispatcher` in a thread of
its own: it sleeps until the next deferral is due (at most `MAX_SLEEP_S`, so new, sooner ones
are seen), pops what is due and publishes it. Several schedulers may dispatch at once: each due
delivery is popped by one of them. A delivery popped and then not published (the broker went
away in between) is not lost: the store has the article pending and overdue, and the reconciler
sends it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import structlog

from workers.adapters.deferrals import POP_BATCH, DeferredDelivery
from workers.errors import InfrastructureError
from workers.pipeline import Stage, StagePublisher

log = structlog.get_logger("newsflow.dispatcher")

# New deferrals due sooner than the earliest known one are noticed within this (a retry's first
# back-off is up to 2 s; politeness slots are 1 s apart by default).
MAX_SLEEP_S = 0.25
# After an error (Redis away), wait this long before trying again.
ERROR_PAUSE_S = 1.0


class DueDeferrals(Protocol):
    def pop_due(self, limit: int = POP_BATCH) -> tuple[list[DeferredDelivery], float | None]: ...

    def defer(self, delivery: DeferredDelivery, at: float) -> None: ...


def dispatch_due(
    deferrals: DueDeferrals, publisher: StagePublisher, limit: int = POP_BATCH
) -> tuple[int, float | None]:
    """Publish what is due; returns (how many were sent, seconds until the next is due)."""
    due, next_in = deferrals.pop_due(limit)
    for n, entry in enumerate(due):
        try:
            publisher.send(
                Stage(entry.stage), entry.article_id, entry.reservation, entry.infra_attempt
            )
        except InfrastructureError as exc:
            log.warning("dispatch_failed", error=str(exc), unsent=len(due) - n)
            _put_back(deferrals, due[n:])
            return n, ERROR_PAUSE_S
    if len(due) >= limit:
        return len(due), 0.0  # more may be due right now
    return len(due), next_in


def _put_back(deferrals: DueDeferrals, entries: list[DeferredDelivery]) -> None:
    retry_at = time.time() + ERROR_PAUSE_S
    try:
        for entry in entries:
            deferrals.defer(entry, retry_at)
    except InfrastructureError:
        # Redis is away too; the store has these articles pending: the reconciler's job now.
        log.warning("deferrals_left_to_reconciler", count=len(entries))


def run_dispatcher(
    deferrals: DueDeferrals, publisher: StagePublisher, stop: threading.Event
) -> None:
    """Dispatch due deferrals until `stop` is set."""
    log.debug("dispatcher_started")
    while not stop.is_set():
        try:
            sent, next_in = dispatch_due(deferrals, publisher)
        except Exception as exc:  # keep dispatching through a Redis blip
            log.warning("dispatcher_error", error=repr(exc)[:300])
            stop.wait(ERROR_PAUSE_S)
            continue
        if sent:
            log.debug("deferrals_dispatched", sent=sent)
        wait = MAX_SLEEP_S if next_in is None else min(MAX_SLEEP_S, next_in)
        if wait > 0:
            stop.wait(wait)
