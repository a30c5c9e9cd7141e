"""The stage order, written once. Nothing else in newsflow knows which stage follows which.

An article moves queued -> fetched -> cleaned -> deduplicated -> stored, one queue per stage;
duplicate, skipped and failed are terminal. `is_done` lets a redelivered message see that its
stage already ran (idempotence), `next_stage` says where a finished article goes.
"""

from __future__ import annotations

from typing import Final, Literal

Stage = Literal["fetch", "clean", "dedup", "classify"]

STAGES: Final[tuple[Stage, ...]] = ("fetch", "clean", "dedup", "classify")
# Queues: one per stage, plus crawl for feed polling (discovery feeds the first stage).
QUEUES: Final[tuple[str, ...]] = ("crawl", *STAGES)

# The status an article has once each stage is through with it.
DONE_STATUS: Final[dict[Stage, str]] = {
    "fetch": "fetched",
    "clean": "cleaned",
    "dedup": "deduplicated",
    "classify": "stored",
}
PROGRESS: Final[tuple[str, ...]] = ("queued", *DONE_STATUS.values())
TERMINAL: Final[frozenset[str]] = frozenset({"stored", "duplicate", "skipped", "failed"})


def task_name(stage: str) -> str:
    return f"newsflow.{stage}"


def first_stage() -> Stage:
    return STAGES[0]


def next_stage(stage: Stage) -> Stage | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def status_before(stage: Stage) -> str:
    """The status an article has while it waits for `stage` (used by replay)."""
    return PROGRESS[STAGES.index(stage)]


def is_done(stage: Stage, status: str | None) -> bool:
    """True when an article with `status` needs nothing more from `stage`."""
    if status is None:
        return True  # unknown article: nothing to do
    if status in TERMINAL:
        return True
    return PROGRESS.index(status) >= PROGRESS.index(DONE_STATUS[stage])


def as_stage(name: str) -> Stage:
    for stage in STAGES:
        if stage == name:
            return stage
    raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
