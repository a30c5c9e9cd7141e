"""What every stage delivery goes through: the queue semantics in one place, with no Celery in it.

`StageRunner.run` takes a plain `Delivery` (which stage, which article, what the message carried)
and returns a typed `StageOutcome`; the effects come in through small protocols (the store, the
stage guard, the deferrals, the publisher, the steps), so every rule below is unit-tested with
fakes in milliseconds. `workers.tasks.StageTask` is the only code that turns a Celery request
into a Delivery.

- The store is the source of truth. A stage's result, the article's status move and its events
  are saved in one transaction, and only while the article still waits for that stage: a
  redelivered or duplicated message never saves twice.
- One delivery at a time per (stage, article) (the guard's lock); a busy article is deferred
  until the lock would expire, never retried.
- A delivery cap that counts deliveries which never finished (a worker killed mid-stage): a page
  that kills its worker is quarantined after `max_deliveries` with the reason `worker_lost`.
- The error taxonomy mapped to outcomes: transient -> retried with jittered back-off exactly
  `max_retries` times (the count lives in the store), then quarantined; permanent -> quarantined;
  skip -> recorded, the chain stops; deferred (a polite host's turn) -> put off, nothing spent;
  our own database/Redis/broker away -> waited for with back-off, never counted, never
  quarantined.
- Waiting happens in Redis (the deferrals), not in ETA messages held by a worker.
- Anything that cannot be recorded (the database or Redis is down) leaves the article pending in
  the store, where the reconciler finds it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import structlog

from workers.adapters.deferrals import DeferredDelivery
from workers.adapters.stage_guard import Admission
from workers.errors import (
    Deferred,
    InfrastructureError,
    PermanentError,
    SkipArticle,
    StageError,
    TransientError,
)
from workers.models import SlotReservation
from workers.pipeline import (
    Stage,
    StagePublisher,
    Status,
    is_done,
    next_stage,
    send_articles,
    status_after,
    status_before,
)
from workers.steps import Step, StepResult
from workers.store.repository import EventRecord, StageInput, StageOutput
from workers.tracing import (
    DEFERRED,
    FAILED,
    RETRYING,
    SKIPPED,
    STAGE_EVENTS,
    STORED,
    StageContext,
    Tracer,
)

log = structlog.get_logger("newsflow.runner")


# --- values in and out ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a stage message, as plain values."""

    stage: Stage
    article_id: str
    message_id: str = ""
    worker: str = ""
    enqueued_at: float | None = None  # epoch seconds the message was published
    redelivered: bool = False
    reservation: SlotReservation | None = None  # a rate-limit slot held for this delivery
    infra_attempt: int = 0  # times this delivery already waited for our own stores


class Outcome(StrEnum):
    ADVANCED = "advanced"  # saved, sent to the next stage
    FINISHED = "finished"  # saved, and the article is finished (stored or a duplicate)
    SKIPPED = "skipped"  # not an article: recorded, the chain stops
    QUARANTINED = "quarantined"  # failed with its reason, replayable
    RETRY_SCHEDULED = "retry_scheduled"  # a transient failure, tried again after a back-off
    DEFERRED = "deferred"  # waits for its host's turn; no retry spent
    BUSY = "busy"  # another delivery holds this stage of the article; looked at again later
    WAITING_FOR_INFRASTRUCTURE = "waiting_for_infrastructure"  # our own store or Redis away
    ALREADY_DONE = "already_done"  # the stage's result is already saved
    NOT_WAITING = "not_waiting"  # the article waits for another stage; this message is stale
    UNKNOWN_ARTICLE = "unknown_article"


# Outcomes after which the article no longer waits for the delivery's stage.
_MOVED_ON = frozenset({Outcome.ADVANCED, Outcome.FINISHED})


@dataclass(frozen=True, slots=True)
class StageOutcome:
    outcome: Outcome
    status: Status | None = None  # the article's status afterwards, where known
    next_stage: Stage | None = None  # where it was sent
    retry_at: float | None = None  # epoch seconds of the next delivery, when put off
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The numbers the runner applies (from Settings)."""

    max_retries: int = 5
    max_deliveries: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    # Waiting for our own database or Redis: short and capped, they are usually back soon.
    infra_backoff_base_s: float = 1.0
    infra_backoff_max_s: float = 30.0


# --- the effects it needs ---------------------------------------------------------------------


class RunnerStore(Protocol):
    def load_input(self, article_id: str, stage: Stage) -> StageInput | None: ...

    def load_inputs(self, article_ids: Sequence[str], stage: Stage) -> dict[str, StageInput]: ...

    def complete_stage(
        self,
        article_id: str,
        stage: Stage,
        output: StageOutput,
        status: Status,
        events: Sequence[EventRecord],
    ) -> bool: ...

    def record_retry(
        self,
        article_id: str,
        stage: Stage,
        reason: str,
        due_at: datetime,
        events: Sequence[EventRecord],
    ) -> bool: ...

    def record_deferral(
        self, article_id: str, stage: Stage, due_at: datetime, events: Sequence[EventRecord]
    ) -> bool: ...

    def finish(
        self,
        article_id: str,
        stage: Stage,
        status: Status,
        reason: str,
        events: Sequence[EventRecord],
    ) -> bool: ...


class Guard(Protocol):
    def admit(self, stage: str, article_id: str, holder: str) -> Admission: ...

    def release(self, stage: str, article_id: str, holder: str) -> None: ...


class Deferrals(Protocol):
    def defer(self, delivery: DeferredDelivery, at: float) -> None: ...


# Failures of our own database, Redis or broker as their libraries raise them (SQLAlchemy's and
# redis-py's errors): given by the wiring, so this module imports neither.
InfraErrors = tuple[type[BaseException], ...]


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Exponential back-off with full jitter (attempt 0 waits up to `base`); a server's
    Retry-After is a floor; never more than `cap`."""
    delay = rng(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return max(delay, 0.05)


class StageRunner:
    def __init__(
        self,
        store: RunnerStore,
        guard: Guard,
        deferrals: Deferrals,
        publisher: StagePublisher,
        steps: Mapping[Stage, Step],
        tracer: Tracer,
        policy: RetryPolicy,
        process_id: str,
        infra_errors: InfraErrors = (),
        time_limit_errors: InfraErrors = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.guard = guard
        self.deferrals = deferrals
        self.publisher = publisher
        self.steps = steps
        self.tracer = tracer
        self.policy = policy
        # "host:pid": each delivery holds the stage lock as "host:pid:<random>", so two threads
        # of one process are told apart, and a lock whose process died can be taken over.
        self.process_id = process_id
        self.infra_errors: InfraErrors = (InfrastructureError, *infra_errors)
        self.time_limit_errors = time_limit_errors
        self.clock = clock

    def run(self, delivery: Delivery) -> StageOutcome:
        """Run `delivery`'s stage for its article; whatever happens, the article is either
        moved on, put off, finished, or left pending in the store for the reconciler."""
        outcome = self._settle(delivery)
        if outcome.next_stage is not None:
            self._send_on(outcome.next_stage, [delivery.article_id])
        return outcome

    def run_batch(
        self, deliveries: Sequence[Delivery], deadline: float | None = None
    ) -> list[StageOutcome]:
        """Run the deliveries of one message naming several articles of one stage, one after
        another, each exactly as `run` would; the articles that move on go to their next stage
        together, in one message. An article started after `deadline` (epoch seconds) or after
        a time limit cut the batch short is handed back to its stage's queue unstarted: a batch
        never holds articles that no lock or queue shows for long (the reconciler would take
        them for lost), nor runs into the hard time limit."""
        outcomes: list[StageOutcome] = []
        onward: dict[Stage, list[str]] = {}
        inputs = self._read_inputs(deliveries)
        try:
            for n, delivery in enumerate(deliveries):
                if n and deadline is not None and self.clock() >= deadline:
                    self._hand_back(deliveries[n:], "batch_deadline")
                    break
                try:
                    outcome = self._settle(delivery, inputs.get(delivery.article_id))
                except self.time_limit_errors:
                    # Cut short outside the step (the step's own is a transient failure): this
                    # article is pending in the store; the rest go back before the hard limit.
                    self._hand_back(deliveries[n + 1 :], "time_limit")
                    raise
                outcomes.append(outcome)
                if outcome.next_stage is not None:
                    onward.setdefault(outcome.next_stage, []).append(delivery.article_id)
        finally:
            # What follows concerns the batch, not the last article run.
            structlog.contextvars.unbind_contextvars("article_id")
            for stage, article_ids in onward.items():
                self._send_on(stage, article_ids)
        return outcomes

    def _read_inputs(self, deliveries: Sequence[Delivery]) -> dict[str, StageInput]:
        """The inputs of a batch's articles in one read instead of one each (a round trip and
        a statement's overhead per article fewer). Only a saving: an article not found here,
        or the whole batch when the read fails, is read alone when its turn comes, where the
        failure is handled as for a single delivery. An input read here may be some seconds
        old when its article runs; what decides is the write, which moves the article only
        while it still waits for this stage. A time limit during the read (a database that
        hangs) hands the whole batch back, unstarted, before going up."""
        if len(deliveries) < 2:
            return {}
        try:
            # One message, one stage: its deliveries share it.
            return self.store.load_inputs([d.article_id for d in deliveries], deliveries[0].stage)
        except self.infra_errors:
            return {}
        except self.time_limit_errors:
            self._hand_back(deliveries, "time_limit")
            raise

    def _settle(self, delivery: Delivery, inp: StageInput | None = None) -> StageOutcome:
        structlog.contextvars.bind_contextvars(
            article_id=delivery.article_id, stage=delivery.stage.value
        )
        try:
            return self._run(delivery, inp)
        except self.infra_errors as exc:
            return self._wait_for_infrastructure(delivery, exc)

    # --- the delivery ---------------------------------------------------------------------------

    def _run(self, d: Delivery, read: StageInput | None = None) -> StageOutcome:
        inp = read if read is not None else self.store.load_input(d.article_id, d.stage)
        if inp is None:
            log.warning("article_unknown")
            return StageOutcome(Outcome.UNKNOWN_ARTICLE)
        status = Status(inp.status)
        if is_done(d.stage, status):
            return self._already_done(d, status)
        if status != status_before(d.stage):
            # A stale message (the article waits for an earlier stage): that stage's own
            # message, or the reconciler, moves it; running this one now would be out of order.
            log.info("stage_message_stale", status=status.value)
            return StageOutcome(Outcome.NOT_WAITING, status)
        holder = f"{self.process_id}:{uuid.uuid4().hex[:8]}"
        admission = self.guard.admit(d.stage, d.article_id, holder)
        if not admission.admitted:
            return self._busy(d, admission)
        outcome = None
        try:
            ctx = self._context(d, inp)
            if admission.deliveries > self.policy.max_deliveries:
                reason = (
                    f"worker_lost: delivered {admission.deliveries} times without finishing "
                    "(the worker died or hit the time limit each time)"
                )
                outcome = self._quarantine(d, ctx, reason, None)
            else:
                outcome = self._run_step(d, inp, ctx)
            return outcome
        finally:
            # A delivery that moved the article on leaves its lock to expire: the store already
            # answers any later delivery of this stage ("already done") before the guard is
            # asked, so releasing would only cost Redis commands (a third of the guard's).
            # Every other outcome releases, so the next delivery is admitted and not counted
            # as one that never finished.
            if outcome is None or outcome.outcome not in _MOVED_ON:
                self._release(d, holder)

    def _run_step(self, d: Delivery, inp: StageInput, ctx: StageContext) -> StageOutcome:
        start = time.perf_counter()
        try:
            try:
                result = self.steps[d.stage](inp, d.reservation)
            except self.time_limit_errors as exc:
                raise TransientError("time_limit", "stage exceeded its soft time limit") from exc
        except Deferred as exc:
            return self._defer(d, ctx, exc)
        except SkipArticle as exc:
            return self._skip(d, ctx, reason_of(exc), _elapsed(start))
        except TransientError as exc:
            return self._retry_or_quarantine(d, inp, ctx, exc, _elapsed(start))
        except PermanentError as exc:
            return self._quarantine(d, ctx, reason_of(exc), _elapsed(start))
        except self.infra_errors:
            raise  # our own database, Redis or broker: waited for in run(), never the article's
        except Exception as exc:
            # A bug or a poison input: keep the article, with the error, for replay after a fix.
            log.exception("stage_crashed")
            reason = f"unexpected_error: {exc!r}"[:500]
            return self._quarantine(d, ctx, reason, _elapsed(start))
        return self._complete(d, ctx, result, _elapsed(start))

    # --- outcomes -------------------------------------------------------------------------------

    def _complete(
        self, d: Delivery, ctx: StageContext, result: StepResult, duration_ms: float
    ) -> StageOutcome:
        following = next_stage(d.stage)
        status = result.ends_as or status_after(d.stage)
        events = [
            self.tracer.event(
                STAGE_EVENTS[d.stage], ctx, result.outcome, duration_ms, detail=result.detail
            )
        ]
        if status is Status.STORED:
            events.append(self.tracer.event(STORED, ctx, "stored", with_queue_wait=False))
        saved = self.store.complete_stage(d.article_id, d.stage, result.output, status, events)
        if not saved:
            log.info("stage_finished_elsewhere")
            return StageOutcome(Outcome.ALREADY_DONE)
        self.tracer.emit(ctx, events)
        if status is not status_after(d.stage) or following is None:
            return StageOutcome(Outcome.FINISHED, status)
        return StageOutcome(Outcome.ADVANCED, status, next_stage=following)

    def _already_done(self, d: Delivery, status: Status) -> StageOutcome:
        # Redelivered after the result was saved. If the article is parked right after this
        # stage, the next message may have died with the worker: send it again (the next stage
        # is idempotent too), sooner than the reconciler would.
        log.info("stage_already_done", status=status.value)
        following = next_stage(d.stage)
        if status == status_after(d.stage) and following is not None:
            return StageOutcome(Outcome.ALREADY_DONE, status, next_stage=following)
        return StageOutcome(Outcome.ALREADY_DONE, status)

    def _busy(self, d: Delivery, admission: Admission) -> StageOutcome:
        # Another delivery of this article is in this stage now (a duplicate message, or a
        # redelivery racing a slow worker). Look again once its lock would have expired: if it
        # finished, the stage is done; if it died, this delivery takes over.
        at = self.clock() + max(1.0, admission.busy_for_s + 0.5)
        self.deferrals.defer(DeferredDelivery(d.stage.value, d.article_id, d.reservation), at)
        log.info("stage_in_progress_elsewhere", holder=admission.holder, retry_at=at)
        return StageOutcome(Outcome.BUSY, retry_at=at)

    def _defer(self, d: Delivery, ctx: StageContext, exc: Deferred) -> StageOutcome:
        at = max(exc.not_before, self.clock())
        detail = {"reason": reason_of(exc), "until": _iso(at)}
        events = [self.tracer.event(DEFERRED, ctx, "deferred", detail=detail)]
        if not self.store.record_deferral(d.article_id, d.stage, _utc(at), events):
            return StageOutcome(Outcome.ALREADY_DONE)
        self.deferrals.defer(DeferredDelivery(d.stage.value, d.article_id, exc.reservation), at)
        self.tracer.emit(ctx, events, level="debug")
        return StageOutcome(Outcome.DEFERRED, Status(status_before(d.stage)), retry_at=at)

    def _skip(
        self, d: Delivery, ctx: StageContext, reason: str, duration_ms: float
    ) -> StageOutcome:
        events = [
            self.tracer.event(SKIPPED, ctx, "skipped", duration_ms, detail={"reason": reason})
        ]
        if not self.store.finish(d.article_id, d.stage, Status.SKIPPED, reason, events):
            return StageOutcome(Outcome.ALREADY_DONE)
        self.tracer.emit(ctx, events)
        return StageOutcome(Outcome.SKIPPED, Status.SKIPPED, reason=reason)

    def _retry_or_quarantine(
        self,
        d: Delivery,
        inp: StageInput,
        ctx: StageContext,
        exc: TransientError,
        duration_ms: float,
    ) -> StageOutcome:
        reason = reason_of(exc)
        if inp.attempts >= self.policy.max_retries:
            attempts = inp.attempts + 1
            return self._quarantine(
                d, ctx, f"{reason} (gave up after {attempts} attempts)", duration_ms
            )
        delay = backoff_delay(
            inp.attempts, self.policy.backoff_base_s, self.policy.backoff_max_s, exc.retry_after
        )
        at = self.clock() + delay
        detail = {"reason": reason, "retry_in_s": round(delay, 2)}
        events = [self.tracer.event(RETRYING, ctx, "retry", duration_ms, detail=detail)]
        if not self.store.record_retry(d.article_id, d.stage, reason, _utc(at), events):
            return StageOutcome(Outcome.ALREADY_DONE)
        self.deferrals.defer(DeferredDelivery(d.stage.value, d.article_id), at)
        self.tracer.emit(ctx, events, level="warning")
        return StageOutcome(
            Outcome.RETRY_SCHEDULED, Status(status_before(d.stage)), retry_at=at, reason=reason
        )

    def _quarantine(
        self, d: Delivery, ctx: StageContext, reason: str, duration_ms: float | None
    ) -> StageOutcome:
        events = [
            self.tracer.event(FAILED, ctx, "quarantined", duration_ms, detail={"reason": reason})
        ]
        if not self.store.finish(d.article_id, d.stage, Status.FAILED, reason, events):
            return StageOutcome(Outcome.ALREADY_DONE)
        self.tracer.emit(ctx, events, level="error")
        return StageOutcome(Outcome.QUARANTINED, Status.FAILED, reason=reason)

    def _wait_for_infrastructure(self, d: Delivery, exc: BaseException) -> StageOutcome:
        """Our own database, Redis or broker failed: put the delivery off with a short, capped
        back-off, as often as it takes. If even that cannot be recorded, the error goes up:
        the message is left to the broker (redelivery) and the article, pending in the store,
        to the reconciler."""
        delay = backoff_delay(
            d.infra_attempt, self.policy.infra_backoff_base_s, self.policy.infra_backoff_max_s
        )
        at = self.clock() + delay
        log.warning(
            "stage_waiting_for_infrastructure",
            error=repr(exc)[:300],
            retry_in_s=round(delay, 2),
            infra_attempt=d.infra_attempt + 1,
        )
        entry = DeferredDelivery(d.stage.value, d.article_id, d.reservation, d.infra_attempt + 1)
        try:
            self.deferrals.defer(entry, at)
        except self.infra_errors:
            raise exc from None
        return StageOutcome(Outcome.WAITING_FOR_INFRASTRUCTURE, retry_at=at, reason=repr(exc))

    # --- helpers --------------------------------------------------------------------------------

    def _send_on(self, stage: Stage, article_ids: Sequence[str]) -> None:
        try:
            send_articles(self.publisher, stage, article_ids)
        except self.infra_errors as exc:
            # The articles' new status is saved: the reconciler sends them on once the broker
            # is back. Nothing else to do here; failing the delivery would only repeat the stage.
            log.warning(
                "next_stage_not_sent",
                next_stage=stage.value,
                articles=len(article_ids),
                error=repr(exc)[:300],
            )

    def _hand_back(self, deliveries: Sequence[Delivery], reason: str) -> None:
        """Put unstarted deliveries of a batch back on their stage's queue (lines about the
        batch, bound to no article). If the broker is away they stay pending in the store,
        where the reconciler finds them."""
        if not deliveries:
            return
        structlog.contextvars.unbind_contextvars("article_id")
        stage = deliveries[0].stage
        article_ids = [d.article_id for d in deliveries]
        log.info("batch_handed_back", stage=stage.value, articles=len(article_ids), reason=reason)
        try:
            send_articles(self.publisher, stage, article_ids)
        except self.infra_errors as exc:
            log.warning("batch_not_handed_back", articles=len(article_ids), error=repr(exc)[:300])

    def _release(self, d: Delivery, holder: str) -> None:
        try:
            self.guard.release(d.stage, d.article_id, holder)
        except self.infra_errors as exc:
            # The lock expires by itself; the delivery's outcome is already recorded.
            log.warning("stage_lock_not_released", error=repr(exc)[:300])

    def _context(self, d: Delivery, inp: StageInput) -> StageContext:
        waited = None
        if d.enqueued_at is not None:
            waited = max(0.0, (self.clock() - d.enqueued_at) * 1000)
        return StageContext(
            article_id=d.article_id,
            url=inp.url,
            stage=d.stage.value,
            attempt=inp.attempts + 1,
            worker=d.worker,
            queue_wait_ms=waited,
        )


def reason_of(exc: StageError) -> str:
    return f"{exc.reason}: {exc.detail}" if exc.detail else exc.reason


def _elapsed(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _iso(epoch: float) -> str:
    return _utc(epoch).isoformat()


__all__ = [
    "Delivery",
    "Outcome",
    "RetryPolicy",
    "StageOutcome",
    "StageRunner",
    "backoff_delay",
    "reason_of",
]
