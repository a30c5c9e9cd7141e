"""The stage order, the statuses an article moves through, and when a stage counts as done."""

from __future__ import annotations

import pytest

from workers.pipeline import (
    PENDING,
    STAGES,
    TERMINAL,
    Stage,
    Status,
    is_done,
    next_stage,
    status_after,
    status_before,
    waiting_stage,
)


def test_stages_run_fetch_clean_dedup_classify_and_then_stop() -> None:
    assert STAGES == ("fetch", "clean", "dedup", "classify")
    assert [next_stage(s) for s in STAGES] == ["clean", "dedup", "classify", None]


def test_each_stage_moves_an_article_from_one_status_to_the_next() -> None:
    assert [status_before(s) for s in STAGES] == ["queued", "fetched", "cleaned", "deduplicated"]
    assert [status_after(s) for s in STAGES] == ["fetched", "cleaned", "deduplicated", "stored"]


def test_every_status_is_either_pending_or_terminal() -> None:
    assert set(Status) == PENDING | TERMINAL
    assert not PENDING & TERMINAL


@pytest.mark.parametrize("stage", STAGES)
def test_a_pending_article_waits_for_exactly_one_stage(stage: Stage) -> None:
    assert waiting_stage(status_before(stage)) is stage


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_a_finished_article_waits_for_nothing(status: Status) -> None:
    assert waiting_stage(status) is None


def test_a_stage_is_done_once_the_article_moved_past_it() -> None:
    assert not is_done(Stage.FETCH, Status.QUEUED)
    assert is_done(Stage.FETCH, Status.FETCHED)
    assert is_done(Stage.FETCH, Status.STORED)
    assert not is_done(Stage.CLASSIFY, Status.DEDUPLICATED)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_no_stage_runs_again_on_a_finished_article(terminal: Status) -> None:
    assert all(is_done(stage, terminal) for stage in STAGES)


def test_stage_and_status_values_are_the_strings_queues_and_the_store_use() -> None:
    assert Stage("clean") is Stage.CLEAN
    assert Status.STORED == "stored"
