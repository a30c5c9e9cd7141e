"""The queue semantics of one stage delivery, with in-memory effects (no Celery, no Redis).

Each test states one rule of `workers.runner.StageRunner`: what is saved, what is sent on,
what is put off and until when, what is quarantined and why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.fakes import MemoryDeferrals, MemoryGuard, MemoryQueue, MemoryStore
from workers.errors import Deferred, PermanentError, SkipArticle, TransientError
from workers.models import Classification, DedupVerdict, FetchedPage, SlotReservation
from workers.pipeline import Stage, Status
from workers.runner import Delivery, Outcome, RetryPolicy, StageRunner, backoff_delay
from workers.settings import Settings
from workers.steps import StepOutcome, StepResult
from workers.store.repository import StageInput
from workers.tracing import Tracer

NOW = 1_800_000_000.0
PAGE = FetchedPage(
    url="https://news.example/a",
    final_url="https://news.example/a",
    status=200,
    content_type="text/html",
    encoding="utf-8",
    html="<p>story</p>",
    fetched_at=datetime.fromtimestamp(NOW, UTC),
)


class TimeLimitError(Exception):
    """Stands in for Celery's SoftTimeLimitExceeded."""


class Harness:
    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.store = MemoryStore()
        self.guard = MemoryGuard()
        self.deferrals = MemoryDeferrals()
        self.queue = MemoryQueue()
        self.behaviour: dict[Stage, Callable[[StageInput], StepResult]] = {
            Stage.FETCH: lambda inp: StepResult(PAGE, StepOutcome.OK),
            Stage.CLASSIFY: lambda inp: StepResult(
                Classification("world", 0.9, "en", "m1"), StepOutcome.OK
            ),
        }
        self.seen_slots: list[SlotReservation | None] = []
        self.now = NOW
        self.runner = StageRunner(
            store=self.store,
            guard=self.guard,
            deferrals=self.deferrals,
            publisher=self.queue,
            steps={stage: self._step(stage) for stage in Stage},
            tracer=Tracer(),
            policy=policy or RetryPolicy(),
            process_id="test-host:4242",
            infra_errors=(ConnectionError,),
            time_limit_errors=(TimeLimitError,),
            clock=lambda: self.now,
        )

    def _step(self, stage: Stage) -> Callable[[StageInput, SlotReservation | None], StepResult]:
        def step(inp: StageInput, slot: SlotReservation | None) -> StepResult:
            self.seen_slots.append(slot)
            return self.behaviour[stage](inp)

        return step

    def when(self, stage: Stage, behaviour: Callable[[StageInput], StepResult]) -> None:
        self.behaviour[stage] = behaviour

    def fails(self, stage: Stage, error: Exception) -> None:
        def raise_it(_: StageInput) -> StepResult:
            raise error

        self.behaviour[stage] = raise_it

    def deliver(self, stage: Stage = Stage.FETCH, article_id: str = "a1", **kw: object) -> Outcome:
        return self.runner.run(Delivery(stage, article_id, **kw)).outcome  # type: ignore[arg-type]

    def deliver_batch(
        self, article_ids: list[str], stage: Stage = Stage.FETCH, deadline: float | None = None
    ) -> list[Outcome]:
        deliveries = [Delivery(stage, article_id) for article_id in article_ids]
        return [o.outcome for o in self.runner.run_batch(deliveries, deadline)]

    def add(self, *article_ids: str) -> None:
        for article_id in article_ids:
            self.store.add(article_id, f"https://news.example/{article_id}")


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.store.add("a1", "https://news.example/a")
    return harness


# --- moving on ---------------------------------------------------------------------------------


def test_a_finished_stage_saves_its_result_and_sends_the_article_to_the_next(h: Harness) -> None:
    assert h.deliver(enqueued_at=NOW - 2.5) is Outcome.ADVANCED
    article = h.store.articles["a1"]
    assert article.status is Status.FETCHED
    assert article.outputs["fetch"] == PAGE
    assert [(m.stage, m.article_id) for m in h.queue.sent] == [(Stage.CLEAN, "a1")]
    [event] = h.store.events
    assert (event.event, event.outcome, event.queue_wait_ms) == ("article_fetched", "ok", 2500.0)


def test_the_last_stage_stores_the_article_and_sends_nothing(h: Harness) -> None:
    h.store.articles["a1"].status = Status.DEDUPLICATED
    assert h.deliver(Stage.CLASSIFY, enqueued_at=NOW - 1) is Outcome.FINISHED
    assert h.store.articles["a1"].status is Status.STORED
    assert h.queue.sent == []
    classified, stored = h.store.events
    assert (classified.event, stored.event) == ("article_classified", "article_stored")
    # The queue wait belongs to the classify stage, counted once.
    assert (classified.queue_wait_ms, stored.queue_wait_ms) == (1000.0, None)


def test_a_duplicate_ends_the_chain_as_duplicate(h: Harness) -> None:
    h.store.articles["a1"].status = Status.CLEANED
    verdict = DedupVerdict(True, "c0", duplicate_of="a0", level="exact")
    h.when(
        Stage.DEDUP,
        lambda inp: StepResult(verdict, StepOutcome.DUPLICATE, ends_as=Status.DUPLICATE),
    )
    assert h.deliver(Stage.DEDUP) is Outcome.FINISHED
    assert h.store.articles["a1"].status is Status.DUPLICATE
    assert h.queue.sent == []


def test_a_result_is_saved_once_when_another_delivery_finished_first(h: Harness) -> None:
    def finished_elsewhere_meanwhile(inp: StageInput) -> StepResult:
        h.store.articles["a1"].status = Status.FETCHED  # a racing delivery saved its page
        return StepResult(PAGE, StepOutcome.OK)

    h.when(Stage.FETCH, finished_elsewhere_meanwhile)
    assert h.deliver() is Outcome.ALREADY_DONE
    assert h.store.events == []
    assert h.queue.sent == []  # the delivery that saved it sent the article on


def test_a_redelivered_message_after_the_result_was_saved_sends_the_article_on_again(
    h: Harness,
) -> None:
    """The worker may have died between saving and sending: the next message is re-sent
    (the next stage is idempotent too)."""
    h.store.articles["a1"].status = Status.FETCHED
    assert h.deliver(Stage.FETCH) is Outcome.ALREADY_DONE
    assert [m.stage for m in h.queue.sent] == [Stage.CLEAN]
    assert h.store.events == []


def test_a_message_for_a_finished_article_is_dropped(h: Harness) -> None:
    h.store.articles["a1"].status = Status.STORED
    assert h.deliver(Stage.CLEAN) is Outcome.ALREADY_DONE
    assert h.queue.sent == []


def test_a_message_for_a_later_stage_than_the_article_waits_for_is_dropped(h: Harness) -> None:
    assert h.deliver(Stage.DEDUP) is Outcome.NOT_WAITING
    assert h.store.articles["a1"].status is Status.QUEUED
    assert h.queue.sent == []
    assert h.store.events == []


def test_a_message_for_an_unknown_article_is_dropped(h: Harness) -> None:
    assert h.deliver(article_id="nobody") is Outcome.UNKNOWN_ARTICLE


def test_when_the_next_message_cannot_be_sent_the_saved_status_waits_for_the_reconciler(
    h: Harness,
) -> None:
    h.queue.down = True
    assert h.deliver() is Outcome.ADVANCED
    assert h.store.articles["a1"].status is Status.FETCHED  # pending: the reconciler's


# --- failures ----------------------------------------------------------------------------------


def test_a_transient_failure_is_retried_later_through_redis_not_an_eta_message(
    h: Harness,
) -> None:
    h.fails(Stage.FETCH, TransientError("http_503", "busy"))
    assert h.deliver() is Outcome.RETRY_SCHEDULED
    article = h.store.articles["a1"]
    assert (article.status, article.attempts) == (Status.QUEUED, 1)
    _entry, at = h.deferrals.of("fetch", "a1")
    assert 0 < at - NOW <= 2.0  # the first back-off is up to NEWSFLOW_RETRY_BACKOFF (2 s)
    assert article.due_at == datetime.fromtimestamp(at, UTC)  # the store knows when, too
    assert h.queue.sent == []
    assert h.store.event_names("a1") == ["article_retrying"]


def test_transient_failures_are_retried_exactly_max_retries_times_then_quarantined() -> None:
    """Uses the default policy: NEWSFLOW_MAX_RETRIES=5, so six attempts in all."""
    h = Harness(RetryPolicy(max_retries=Settings().max_retries))
    h.store.add("a1", "https://news.example/a")
    h.fails(Stage.FETCH, TransientError("http_503", "busy"))
    outcomes = [h.deliver() for _ in range(6)]
    assert outcomes == [Outcome.RETRY_SCHEDULED] * 5 + [Outcome.QUARANTINED]
    article = h.store.articles["a1"]
    assert article.status is Status.FAILED
    assert article.reason == "http_503: busy (gave up after 6 attempts)"
    assert h.store.event_names("a1") == ["article_retrying"] * 5 + ["article_failed"]


def test_the_retry_budget_is_the_articles_not_the_messages(h: Harness) -> None:
    """A message lost and re-sent by the reconciler does not reset the count."""
    h.fails(Stage.FETCH, TransientError("timeout"))
    h.deliver(message_id="m1")
    h.deliver(message_id="m2-resent-by-reconciler", redelivered=True)
    assert h.store.articles["a1"].attempts == 2


def test_a_page_that_recovers_before_the_budget_runs_out_is_stored() -> None:
    h = Harness()
    h.store.add("a1", "https://news.example/a")
    answers = iter([TransientError("http_503")] * 5)

    def flaky(inp: StageInput) -> StepResult:
        error = next(answers, None)
        if error is not None:
            raise error
        return StepResult(PAGE, StepOutcome.OK)

    h.when(Stage.FETCH, flaky)
    outcomes = [h.deliver() for _ in range(6)]
    assert outcomes[-1] is Outcome.ADVANCED
    assert h.store.articles["a1"].status is Status.FETCHED


def test_back_off_grows_with_attempts_and_stays_under_the_cap() -> None:
    delays = [backoff_delay(attempt, 2.0, 60.0) for attempt in range(12) for _ in range(50)]
    assert all(0.05 <= d <= 60.0 for d in delays)
    assert max(backoff_delay(0, 2.0, 60.0) for _ in range(200)) <= 2.0
    assert backoff_delay(4, 2.0, 600.0, rng=lambda lo, hi: hi) == 32.0


def test_a_servers_retry_after_is_the_least_wait_but_never_past_the_cap() -> None:
    assert all(backoff_delay(0, 2.0, 600.0, 120.0) >= 120.0 for _ in range(50))
    assert backoff_delay(0, 2.0, 60.0, 3600.0) == 60.0


def test_a_permanent_failure_is_quarantined_at_once_with_its_reason(h: Harness) -> None:
    h.fails(Stage.FETCH, PermanentError("http_404", "https://news.example/a"))
    assert h.deliver() is Outcome.QUARANTINED
    article = h.store.articles["a1"]
    assert (article.status, article.failed_stage) == (Status.FAILED, "fetch")
    assert article.reason == "http_404: https://news.example/a"
    assert h.deferrals.entries == {}


def test_not_an_article_is_skipped_with_its_reason(h: Harness) -> None:
    h.store.articles["a1"].status = Status.FETCHED
    h.fails(Stage.CLEAN, SkipArticle("index_page", "a section front"))
    assert h.deliver(Stage.CLEAN) is Outcome.SKIPPED
    assert h.store.articles["a1"].status is Status.SKIPPED
    assert h.store.articles["a1"].reason == "index_page: a section front"


def test_a_bug_quarantines_the_article_with_the_error_for_replay(h: Harness) -> None:
    h.fails(Stage.FETCH, KeyError("oops"))
    assert h.deliver() is Outcome.QUARANTINED
    assert (h.store.articles["a1"].reason or "").startswith("unexpected_error: KeyError")


def test_the_soft_time_limit_counts_as_a_transient_failure(h: Harness) -> None:
    h.fails(Stage.FETCH, TimeLimitError())
    assert h.deliver() is Outcome.RETRY_SCHEDULED
    assert (h.store.articles["a1"].reason or "").startswith("time_limit")


# --- waiting without spending retries -----------------------------------------------------------


def test_a_busy_host_defers_the_article_to_its_reserved_slot_without_spending_a_retry(
    h: Harness,
) -> None:
    slot = SlotReservation("news.example", NOW + 90)
    h.fails(Stage.FETCH, Deferred("host_busy", NOW + 90, reservation=slot))
    assert h.deliver() is Outcome.DEFERRED
    entry, at = h.deferrals.of("fetch", "a1")
    assert (at, entry.reservation) == (NOW + 90, slot)
    article = h.store.articles["a1"]
    assert (article.status, article.attempts) == (Status.QUEUED, 0)
    assert h.store.event_names("a1") == ["article_deferred"]


def test_a_deferred_delivery_brings_its_reserved_slot_to_the_stage(h: Harness) -> None:
    slot = SlotReservation("news.example", NOW)
    assert h.deliver(reservation=slot) is Outcome.ADVANCED
    assert h.seen_slots == [slot]


def test_waiting_for_a_polite_host_never_exhausts_the_retries() -> None:
    # A budget of one retry (the default is 5, used above) makes any spent retry show at once.
    h = Harness(RetryPolicy(max_retries=1))
    h.store.add("a1", "https://news.example/a")
    h.fails(Stage.FETCH, Deferred("host_busy", NOW + 1))
    assert {h.deliver() for _ in range(20)} == {Outcome.DEFERRED}
    assert h.store.articles["a1"].status is Status.QUEUED


# --- our own infrastructure ---------------------------------------------------------------------


def test_an_unreachable_database_puts_the_delivery_off_and_counts_nothing(h: Harness) -> None:
    h.store.down = True
    assert h.deliver(infra_attempt=3) is Outcome.WAITING_FOR_INFRASTRUCTURE
    entry, at = h.deferrals.of("fetch", "a1")
    assert entry.infra_attempt == 4
    assert 0 < at - NOW <= RetryPolicy().infra_backoff_max_s
    h.store.down = False
    assert h.store.articles["a1"].attempts == 0


def test_our_own_outages_never_quarantine_an_article(h: Harness) -> None:
    h.fails(Stage.FETCH, ConnectionError("redis went away mid-stage"))
    outcomes = {h.deliver(infra_attempt=n) for n in range(50)}
    assert outcomes == {Outcome.WAITING_FOR_INFRASTRUCTURE}
    assert h.store.articles["a1"].status is Status.QUEUED
    assert h.store.events == []


def test_when_nothing_can_be_recorded_the_error_goes_up_to_the_broker(h: Harness) -> None:
    """Database and Redis both away: the message is left to redelivery, the article (pending
    in the store) to the reconciler."""
    h.store.down = True
    h.deferrals.down = True
    with pytest.raises(ConnectionError):
        h.deliver()


# --- one delivery at a time, and deliveries that never finish ------------------------------------


def test_a_delivery_finds_its_article_busy_and_looks_again_when_the_lock_expires(
    h: Harness,
) -> None:
    h.guard.locks[("fetch", "a1")] = ("other-host:7:abc", 120.0)
    assert h.deliver() is Outcome.BUSY
    _, at = h.deferrals.of("fetch", "a1")
    assert at - NOW == pytest.approx(120.5)
    assert h.guard.deliveries == {}  # a busy look is not a delivery that died


def test_the_stage_lock_is_released_when_the_article_still_waits_for_the_stage(
    h: Harness,
) -> None:
    h.fails(Stage.FETCH, TransientError("timeout"))
    assert h.deliver() is Outcome.RETRY_SCHEDULED
    assert h.guard.locks == {}
    assert h.guard.deliveries == {}


def test_a_delivery_that_moved_the_article_on_leaves_its_lock_to_expire(h: Harness) -> None:
    """The store answers any later delivery of the stage before the guard is asked, so a
    release would only cost Redis commands; the lock and count expire by themselves."""
    assert h.deliver() is Outcome.ADVANCED
    assert ("fetch", "a1") in h.guard.locks
    assert h.deliver() is Outcome.ALREADY_DONE  # a duplicate message: the store says done
    assert h.guard.deliveries == {("fetch", "a1"): 1}


def test_a_page_that_keeps_killing_its_worker_is_quarantined_as_worker_lost(
    h: Harness,
) -> None:
    max_deliveries = Settings().max_deliveries
    for _ in range(max_deliveries):
        h.guard.crash("fetch", "a1")
    assert h.deliver() is Outcome.QUARANTINED
    article = h.store.articles["a1"]
    assert article.status is Status.FAILED
    assert (article.reason or "").startswith(f"worker_lost: delivered {max_deliveries + 1} times")


def test_a_crash_or_two_is_survived(h: Harness) -> None:
    h.guard.crash("fetch", "a1")
    assert h.deliver() is Outcome.ADVANCED


# --- a message naming several articles ----------------------------------------------------------


def test_a_batch_runs_each_article_as_if_alone_and_sends_the_ones_that_moved_on_together(
    h: Harness,
) -> None:
    h.add("a2", "a3")

    def fail_a2(inp: StageInput) -> StepResult:
        if inp.article_id == "a2":
            raise PermanentError("http_404", "gone")
        return StepResult(PAGE, StepOutcome.OK)

    h.when(Stage.FETCH, fail_a2)
    outcomes = h.deliver_batch(["a1", "a2", "a3"])
    assert outcomes == [Outcome.ADVANCED, Outcome.QUARANTINED, Outcome.ADVANCED]
    assert [h.store.articles[a].status for a in ("a1", "a2", "a3")] == [
        Status.FETCHED,
        Status.FAILED,
        Status.FETCHED,
    ]
    # One message onwards for the two that moved on; each has its own fetched event.
    assert h.queue.batches == [(Stage.CLEAN, ["a1", "a3"])]
    assert [(e.article_id, e.event) for e in h.store.events] == [
        ("a1", "article_fetched"),
        ("a2", "article_failed"),
        ("a3", "article_fetched"),
    ]


def test_a_batch_reads_its_articles_inputs_in_one_read(h: Harness) -> None:
    h.add("a2", "a3")
    assert h.deliver_batch(["a1", "a2", "a3"]) == [Outcome.ADVANCED] * 3
    assert h.store.reads == 1
    h.deliver()  # a lone article (a1, now at clean: already done) reads alone
    assert h.store.reads == 2


def test_an_article_the_batch_read_did_not_find_is_read_alone(h: Harness) -> None:
    assert h.deliver_batch(["a1", "gone"]) == [Outcome.ADVANCED, Outcome.UNKNOWN_ARTICLE]
    assert h.store.reads == 2


def test_when_the_batch_read_fails_each_article_is_read_alone(h: Harness) -> None:
    h.add("a2")
    read_all = h.store.load_inputs

    def database_blip(*args: object, **kw: object) -> dict[str, StageInput]:
        h.store.load_inputs = read_all  # type: ignore[method-assign]
        raise ConnectionError("database unreachable")

    h.store.load_inputs = database_blip  # type: ignore[method-assign]
    assert h.deliver_batch(["a1", "a2"]) == [Outcome.ADVANCED, Outcome.ADVANCED]
    assert h.store.reads == 2


def test_a_time_limit_during_the_batch_read_hands_the_whole_batch_back(h: Harness) -> None:
    h.add("a2")

    def hangs(*args: object, **kw: object) -> dict[str, StageInput]:
        raise TimeLimitError()

    h.store.load_inputs = hangs  # type: ignore[method-assign]
    with pytest.raises(TimeLimitError):
        h.deliver_batch(["a1", "a2"])
    assert {h.store.articles[a].status for a in ("a1", "a2")} == {Status.QUEUED}
    assert h.queue.batches == [(Stage.FETCH, ["a1", "a2"])]


def test_an_article_finished_elsewhere_after_the_batch_read_is_not_saved_twice(
    h: Harness,
) -> None:
    """The batch's read is seconds old by the time its last article runs: the store's write,
    which moves an article only while it still waits for the stage, decides."""
    h.add("a2")

    def fetch_and_meanwhile_a2_is_fetched_elsewhere(inp: StageInput) -> StepResult:
        if inp.article_id == "a1":
            h.store.complete_stage("a2", Stage.FETCH, PAGE, Status.FETCHED, [])
        return StepResult(PAGE, StepOutcome.OK)

    h.when(Stage.FETCH, fetch_and_meanwhile_a2_is_fetched_elsewhere)
    assert h.deliver_batch(["a1", "a2"]) == [Outcome.ADVANCED, Outcome.ALREADY_DONE]
    assert [(e.article_id, e.event) for e in h.store.events] == [("a1", "article_fetched")]
    assert h.queue.batches == []
    assert [(m.stage, m.article_id) for m in h.queue.sent] == [(Stage.CLEAN, "a1")]


def test_one_article_moving_on_from_a_batch_travels_in_its_own_message(h: Harness) -> None:
    h.add("a2")
    h.store.articles["a2"].status = Status.STORED
    assert h.deliver_batch(["a1", "a2"]) == [Outcome.ADVANCED, Outcome.ALREADY_DONE]
    assert h.queue.batches == []
    assert [(m.stage, m.article_id) for m in h.queue.sent] == [(Stage.CLEAN, "a1")]


def test_a_redelivered_batch_sends_on_what_was_done_and_runs_the_rest(h: Harness) -> None:
    """A worker that died mid-batch saved some articles and sent none of them on (a batch
    sends on at its end): the redelivered message sends those on and runs the others."""
    h.add("a2")
    h.store.articles["a1"].status = Status.FETCHED
    assert h.deliver_batch(["a1", "a2"]) == [Outcome.ALREADY_DONE, Outcome.ADVANCED]
    assert h.queue.batches == [(Stage.CLEAN, ["a1", "a2"])]
    assert len(h.store.events) == 1  # a1's stage is not done again


def test_a_batch_past_its_deadline_hands_its_unstarted_articles_back_to_the_queue(
    h: Harness,
) -> None:
    """An article waiting inside a running batch is neither queued nor locked: a batch that
    runs long gives the rest back rather than have the reconciler take them for lost."""
    h.add("a2", "a3", "a4")

    def slow(inp: StageInput) -> StepResult:
        h.now += 20
        return StepResult(PAGE, StepOutcome.OK)

    h.when(Stage.FETCH, slow)
    outcomes = h.deliver_batch(["a1", "a2", "a3", "a4"], deadline=NOW + 30)
    assert outcomes == [Outcome.ADVANCED, Outcome.ADVANCED]  # a2 started at +20 s, a3 at +40
    assert [h.store.articles[a].status for a in ("a3", "a4")] == [Status.QUEUED, Status.QUEUED]
    assert h.queue.batches == [(Stage.FETCH, ["a3", "a4"]), (Stage.CLEAN, ["a1", "a2"])]


def test_the_first_article_of_a_batch_always_runs(h: Harness) -> None:
    assert h.deliver_batch(["a1"], deadline=NOW - 1) == [Outcome.ADVANCED]


def test_a_time_limit_outside_the_step_hands_back_the_rest_and_goes_up(h: Harness) -> None:
    """Cut short while saving (the step's own time limit is a transient failure): the article
    stays pending for the reconciler, the unstarted ones go back on the queue before the hard
    limit, and what was saved before is still sent on."""
    h.add("a2", "a3")
    complete = h.store.complete_stage

    def time_is_up_for_a2(article_id: str, *args: object, **kw: object) -> bool:
        if article_id == "a2":
            raise TimeLimitError()
        return complete(article_id, *args, **kw)  # type: ignore[arg-type]

    h.store.complete_stage = time_is_up_for_a2  # type: ignore[method-assign]
    with pytest.raises(TimeLimitError):
        h.deliver_batch(["a1", "a2", "a3"])
    assert [h.store.articles[a].status for a in ("a1", "a2", "a3")] == [
        Status.FETCHED,
        Status.QUEUED,
        Status.QUEUED,
    ]
    assert [(m.stage, m.article_id) for m in h.queue.sent] == [
        (Stage.FETCH, "a3"),
        (Stage.CLEAN, "a1"),
    ]


def test_with_the_broker_away_a_batchs_saved_articles_wait_for_the_reconciler(
    h: Harness,
) -> None:
    h.add("a2")
    h.queue.down = True
    assert h.deliver_batch(["a1", "a2"]) == [Outcome.ADVANCED, Outcome.ADVANCED]
    assert {h.store.articles[a].status for a in ("a1", "a2")} == {Status.FETCHED}
