"""Settings: typed from the environment, derived limits, and secrets kept out of output."""

from __future__ import annotations

import pytest

from workers.settings import Settings, redacted


def test_settings_are_typed_from_the_environment() -> None:
    settings = Settings.from_env({"NEWSFLOW_MAX_RETRIES": "7", "NEWSFLOW_RETRY_BACKOFF": "0.5"})
    assert (settings.max_retries, settings.retry_backoff) == (7, 0.5)


def test_a_malformed_number_names_its_variable() -> None:
    with pytest.raises(ValueError, match="NEWSFLOW_MAX_RETRIES"):
        Settings.from_env({"NEWSFLOW_MAX_RETRIES": "many"})


def test_the_soft_limit_and_the_stage_lock_follow_the_time_limit() -> None:
    assert (Settings().soft_time_limit, Settings().lock_seconds) == (240, 330)
    short = Settings().with_overrides(task_time_limit=20)
    assert (short.soft_time_limit, short.lock_seconds) == (16, 50)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis.internal:6379/0", "redis://:***@redis.internal:6379/0"),
        (
            "postgresql+psycopg://newsflow:pw@db.internal/newsflow",
            "postgresql+psycopg://newsflow:***@db.internal/newsflow",
        ),
        ("rediss://user:pw@[::1]:6380/1", "rediss://user:***@[::1]:6380/1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("sqlite:///newsflow.db", "sqlite:///newsflow.db"),
    ],
)
def test_passwords_in_connection_urls_are_masked(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_a_stage_message_names_at_most_eight_articles_by_default() -> None:
    assert Settings().stage_batch == 8
    assert Settings.from_env({"NEWSFLOW_STAGE_BATCH": "1"}).stage_batch == 1


@pytest.mark.parametrize("size", ["0", "-3", "101"])
def test_a_batch_size_out_of_bounds_is_refused_at_start_up(size: str) -> None:
    with pytest.raises(ValueError, match="NEWSFLOW_STAGE_BATCH"):
        Settings.from_env({"NEWSFLOW_STAGE_BATCH": size})


def test_a_batch_gives_back_its_unstarted_articles_well_before_the_reconciler_looks() -> None:
    """An article waiting inside a running batch is in no queue and holds no lock."""
    settings = Settings()
    assert settings.batch_budget_s == 30
    assert settings.batch_budget_s < settings.stranded_after / 2
    short = settings.with_overrides(task_time_limit=60)
    assert short.batch_budget_s == short.soft_time_limit / 4
