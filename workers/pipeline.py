"""The stage order, written once. Nothing else in newsflow knows which stage follows which.

An article moves queued -> fetched -> cleaned -> deduplicated -> stored, one queue per stage;
duplicate, skipped and failed are terminal. The store advances an article's status with
`status_after` (only from `status_before`, so a stage's result is saved once); `waiting_stage`
says which stage an article in a given status needs next (the reconciler and replay use it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from workers.models import SlotReservation


class Stage(StrEnum):
    """A queued stage; the value is also its queue's name."""

    FETCH = "fetch"
    CLEAN = "clean"
    DEDUP = "dedup"
    CLASSIFY = "classify"


class Status(StrEnum):
    """Where an article is: waiting for a stage (pending) or finished (terminal)."""

    QUEUED = "queued"
    FETCHED = "fetched"
    CLEANED = "cleaned"
    DEDUPLICATED = "deduplicated"
    STORED = "stored"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    FAILED = "failed"


STAGES: Final[tuple[Stage, ...]] = (Stage.FETCH, Stage.CLEAN, Stage.DEDUP, Stage.CLASSIFY)
CRAWL_QUEUE: Final = "crawl"
# Queues: one per stage, plus crawl for feed polling (discovery feeds the first stage).
QUEUES: Final[tuple[str, ...]] = (CRAWL_QUEUE, *STAGES)

# The status an article has while it waits for each stage, and once it is through with it.
_BEFORE: Final[dict[Stage, Status]] = {
    Stage.FETCH: Status.QUEUED,
    Stage.CLEAN: Status.FETCHED,
    Stage.DEDUP: Status.CLEANED,
    Stage.CLASSIFY: Status.DEDUPLICATED,
}
_AFTER: Final[dict[Stage, Status]] = {
    Stage.FETCH: Status.FETCHED,
    Stage.CLEAN: Status.CLEANED,
    Stage.DEDUP: Status.DEDUPLICATED,
    Stage.CLASSIFY: Status.STORED,
}
PENDING: Final[frozenset[Status]] = frozenset(_BEFORE.values())
TERMINAL: Final[frozenset[Status]] = frozenset(
    {Status.STORED, Status.DUPLICATE, Status.SKIPPED, Status.FAILED}
)
_PROGRESS: Final[tuple[Status, ...]] = (*_BEFORE.values(), Status.STORED)


def task_name(stage: str) -> str:
    return f"newsflow.{stage}"


def first_stage() -> Stage:
    return STAGES[0]


def next_stage(stage: Stage) -> Stage | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def status_before(stage: Stage) -> Status:
    """The status an article has while it waits for `stage`."""
    return _BEFORE[stage]


def status_after(stage: Stage) -> Status:
    """The status an article has once `stage` saved its result (and it goes on)."""
    return _AFTER[stage]


def waiting_stage(status: str) -> Stage | None:
    """The stage an article with `status` waits for; None when it is finished."""
    for stage, before in _BEFORE.items():
        if before == status:
            return stage
    return None


def is_done(stage: Stage, status: str | None) -> bool:
    """True when an article with `status` needs nothing more from `stage`."""
    if status is None:
        return True  # unknown article: nothing to do
    if status in TERMINAL:
        return True
    return _PROGRESS.index(Status(status)) >= _PROGRESS.index(_AFTER[stage])


def as_stage(name: str) -> Stage:
    try:
        return Stage(name)
    except ValueError:
        raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}") from None


class StagePublisher(Protocol):
    """Sends articles to a stage's queue (workers.queueing.CeleryPublisher in production).
    The runner, the dispatcher, the reconciler and ingest all publish through this one shape;
    raises InfrastructureError when the broker cannot be reached."""

    def send(
        self,
        stage: Stage,
        article_id: str,
        reservation: SlotReservation | None = None,
        infra_attempt: int = 0,
    ) -> None: ...

    def send_batch(self, stage: Stage, article_ids: Sequence[str]) -> None:
        """One message naming several articles, each run by the stage as if sent alone (no
        rate-limit slot, no infrastructure attempts: those are one article's)."""
        ...


def send_articles(publisher: StagePublisher, stage: Stage, article_ids: Sequence[str]) -> None:
    """Send `article_ids` to `stage` in one message: one article's when there is one."""
    if len(article_ids) == 1:
        publisher.send(stage, article_ids[0])
    elif article_ids:
        publisher.send_batch(stage, article_ids)
