"""What every stage task does around its step: the queue semantics in one place.

- idempotence: a stage already done for this article is not done again (redelivery, duplicates);
- one worker at a time per (stage, article): a short Redis lock;
- a delivery cap: a message that keeps killing its worker is quarantined, not looped;
- the error taxonomy mapped to outcomes: transient -> retry with jittered back-off, then
  quarantine; permanent -> quarantine; skip -> recorded and stopped;
- one event per stage per article, with timing, queue wait, attempt and worker.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from workers.errors import PermanentError, SkipArticle, TransientError
from workers.pipeline import DONE_STATUS, Stage, is_done, next_stage
from workers.services import Services
from workers.settings import Settings
from workers.steps import STEPS
from workers.tracing import (
    FAILED,
    RETRYING,
    SKIPPED,
    STAGE_EVENTS,
    STORED,
    Metrics,
    StageContext,
    Tracer,
)

log = structlog.get_logger("newsflow.runner")

# Failures of our own stores, not of the article: never quarantine for these, retry instead.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, RedisError)

Enqueue = Callable[[Stage, str], None]


def backoff_delay(retries: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential back-off with full jitter; a server's Retry-After is a floor."""
    delay = random.uniform(0, min(cap, base * (2**retries)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return max(delay, 0.05)


def lock_seconds(settings: Settings) -> int:
    """How long one delivery may hold an article's stage: the task's hard time limit (300 s),
    but never past the visibility timeout, after which Redis hands the message to another
    worker that must be able to take over."""
    return max(1, min(300, settings.visibility_timeout))


def queue_wait_ms(request: Any) -> float | None:
    """Time between being put on the queue (or the retry's ETA) and starting now."""
    start: float | None = None
    eta = getattr(request, "eta", None)
    if eta:
        try:
            start = datetime.fromisoformat(str(eta)).timestamp()
        except ValueError:
            start = None
    if start is None:
        enqueued = request.get("enqueued_at") if hasattr(request, "get") else None
        if enqueued is None:
            return None
        start = float(enqueued)
    return max(0.0, (time.time() - start) * 1000)


class StageRunner:
    def __init__(self, svc: Services, enqueue: Enqueue) -> None:
        self.svc = svc
        self.enqueue = enqueue
        self.tracer = Tracer(svc.store, Metrics(svc.redis, svc.settings.key_prefix))

    def run(self, task: Any, stage: Stage, article_id: str) -> str:
        """Run `stage` for `article_id` inside Celery task `task`; return the outcome.

        Nothing that goes wrong here may lose the article: an unreachable database or Redis
        (before, during or after the stage) sends the message back for a later attempt, and
        a redelivered message finds the stage done if its result was saved.
        """
        try:
            return self._run(task, stage, article_id)
        except INFRASTRUCTURE_ERRORS as exc:
            delay = backoff_delay(
                task.request.retries,
                self.svc.settings.retry_backoff,
                self.svc.settings.retry_backoff_max,
                None,
            )
            log.warning("stage_infrastructure_error", error=repr(exc)[:300], retry_in_s=delay)
            raise task.retry(countdown=delay, exc=exc, max_retries=None) from exc

    def _run(self, task: Any, stage: Stage, article_id: str) -> str:
        request = task.request
        settings = self.svc.settings
        record = self.svc.store.get(article_id)
        if record is None:
            log.warning("article_unknown", article_id=article_id, stage=stage)
            return "unknown"
        ctx = StageContext(
            article_id=article_id,
            url=record.url,
            stage=stage,
            attempt=request.retries + 1,
            worker=str(request.hostname or ""),
            queue_wait_ms=queue_wait_ms(request),
        )
        structlog.contextvars.bind_contextvars(
            article_id=article_id, url=record.url, stage=stage, attempt=ctx.attempt
        )

        if is_done(stage, record.status):
            # Redelivered after the work was saved. If the article is parked right after this
            # stage, the next message may have been lost with the crash: send it again (the next
            # stage is idempotent too).
            log.info("stage_already_done", status=record.status)
            if record.status == DONE_STATUS[stage]:
                self._advance(stage, article_id, proceed=True)
            return "already_done"

        deliveries_key = self.svc.key("deliveries", str(request.id), str(request.retries))
        deliveries = int(self.svc.redis.incr(deliveries_key))
        self.svc.redis.expire(deliveries_key, settings.visibility_timeout * 2)
        if deliveries > settings.max_deliveries:
            self._quarantine(ctx, f"delivery_limit: delivered {deliveries} times without finishing")
            return "quarantined"

        lock_key = self.svc.key("lock", stage, article_id)
        token = str(request.id)
        if not self.svc.redis.set(lock_key, token, nx=True, ex=lock_seconds(settings)):
            # Another delivery of this article is in this stage right now (a duplicate message,
            # or a redelivery racing a slow worker). Look again once its lock would have expired:
            # if the holder finished, the stage is done; if it died, we take over.
            wait = max(1.0, int(self.svc.redis.ttl(lock_key)) + 1.0)
            log.info("stage_in_progress_elsewhere", retry_in_s=wait)
            raise task.retry(countdown=wait, max_retries=None)
        try:
            outcome = self._run_locked(task, stage, article_id, ctx)
        finally:
            self._release(lock_key, token)
        self.svc.redis.delete(deliveries_key)
        return outcome

    def _run_locked(self, task: Any, stage: Stage, article_id: str, ctx: StageContext) -> str:
        settings = self.svc.settings
        start = time.perf_counter()
        try:
            try:
                result = STEPS[stage](article_id, self.svc)
            except SoftTimeLimitExceeded as exc:
                raise TransientError("time_limit", "stage exceeded its soft time limit") from exc
        except SkipArticle as exc:
            self.svc.store.mark_skipped(article_id, stage, _reason(exc))
            self.tracer.emit(
                SKIPPED, ctx, "skipped", _elapsed(start), detail={"reason": _reason(exc)}
            )
            return "skipped"
        except TransientError as exc:
            retries = task.request.retries
            if retries >= settings.max_retries:
                self._quarantine(ctx, f"{_reason(exc)} (gave up after {retries + 1} attempts)")
                return "quarantined"
            delay = backoff_delay(
                retries, settings.retry_backoff, settings.retry_backoff_max, exc.retry_after
            )
            self.tracer.emit(
                RETRYING,
                ctx,
                "retry",
                _elapsed(start),
                log_level="warning",
                detail={"reason": _reason(exc), "retry_in_s": round(delay, 2)},
            )
            raise task.retry(countdown=delay, exc=exc, max_retries=None) from exc
        except PermanentError as exc:
            self._quarantine(ctx, _reason(exc), _elapsed(start))
            return "quarantined"
        except INFRASTRUCTURE_ERRORS:
            raise  # our own database or Redis: retried by run(), never the article's fault
        except Exception as exc:
            # A bug or a poison input: keep the article, with the error, for replay after a fix.
            log.exception("stage_crashed")
            self._quarantine(ctx, f"unexpected_error: {exc!r}"[:500], _elapsed(start))
            return "quarantined"

        # The stage's result is saved. If anything below fails, the redelivered message finds
        # the stage done and sends the article on (see run()).
        duration = _elapsed(start)
        self.tracer.emit(STAGE_EVENTS[stage], ctx, result.outcome, duration, detail=result.detail)
        if next_stage(stage) is None:
            self.tracer.emit(STORED, ctx, "stored", None)
        self._advance(stage, article_id, result.proceed)
        return result.outcome

    def _advance(self, stage: Stage, article_id: str, proceed: bool) -> None:
        following = next_stage(stage)
        if proceed and following is not None:
            self.enqueue(following, article_id)

    def _quarantine(self, ctx: StageContext, reason: str, duration: float | None = None) -> None:
        self.svc.store.mark_failed(ctx.article_id, ctx.stage, reason)
        self.tracer.emit(
            FAILED, ctx, "quarantined", duration, log_level="error", detail={"reason": reason}
        )

    def _release(self, lock_key: str, token: str) -> None:
        # Delete only our own lock: after a time-limit kill another worker may hold it now.
        self.svc.redis.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
            "return 0",
            1,
            lock_key,
            token,
        )


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", type(exc).__name__)
    detail = getattr(exc, "detail", "")
    return f"{reason}: {detail}" if detail else str(reason)


def _elapsed(start: float) -> float:
    return (time.perf_counter() - start) * 1000


__all__ = ["StageRunner", "backoff_delay", "lock_seconds", "queue_wait_ms"]
