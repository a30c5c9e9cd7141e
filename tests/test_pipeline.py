"""The stage order, when a stage counts as done, and how long a retry waits."""

from __future__ import annotations

import pytest

from workers.pipeline import STAGES, is_done, next_stage, status_before
from workers.runner import backoff_delay, lock_seconds
from workers.settings import Settings


def test_stages_run_fetch_clean_dedup_classify_and_then_stop() -> None:
    assert STAGES == ("fetch", "clean", "dedup", "classify")
    assert [next_stage(s) for s in STAGES] == ["clean", "dedup", "classify", None]


def test_a_stage_is_done_once_the_article_moved_past_it() -> None:
    assert not is_done("fetch", "queued")
    assert is_done("fetch", "fetched")
    assert is_done("fetch", "stored")
    assert not is_done("classify", "deduplicated")


@pytest.mark.parametrize("terminal", ["stored", "duplicate", "skipped", "failed"])
def test_no_stage_runs_again_on_a_finished_article(terminal: str) -> None:
    assert all(is_done(stage, terminal) for stage in STAGES)


def test_replay_puts_an_article_back_to_the_status_before_its_stage() -> None:
    assert [status_before(s) for s in STAGES] == ["queued", "fetched", "cleaned", "deduplicated"]


def test_backoff_grows_with_attempts_and_stays_under_the_cap() -> None:
    delays = [backoff_delay(retries, 2.0, 60.0, None) for retries in range(12) for _ in range(50)]
    assert all(0.05 <= d <= 60.0 for d in delays)
    first = [backoff_delay(0, 2.0, 60.0, None) for _ in range(200)]
    assert max(first) <= 2.0


def test_a_servers_retry_after_is_the_least_wait() -> None:
    assert all(backoff_delay(0, 2.0, 600.0, 120.0) >= 120.0 for _ in range(50))
    assert backoff_delay(0, 2.0, 60.0, 3600.0) == 60.0  # but never past the cap


def test_a_stage_lock_never_outlives_the_visibility_timeout() -> None:
    assert lock_seconds(Settings()) == 300
    assert lock_seconds(Settings().with_overrides(visibility_timeout=4)) == 4
