"""`newsflow doctor`: what it flags on a deployment that would lose or stall articles."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from workers.doctor import (
    Verdict,
    check_consumers,
    check_redis_config,
    check_scheduler,
    check_settings,
    run_checks,
)
from workers.settings import Settings

SAFE = {"maxmemory-policy": "noeviction", "appendonly": "yes", "appendfsync": "everysec",
        "maxmemory": str(4 * 2**30)}  # fmt: skip


def verdicts(findings: list) -> dict[str, Verdict]:  # type: ignore[type-arg]
    return {f.check: f.verdict for f in findings}


def test_a_broker_set_up_for_production_passes() -> None:
    found = verdicts(check_redis_config(SAFE, {"used_memory": 2**20}))
    assert set(found.values()) == {Verdict.OK}


def test_a_broker_that_evicts_keys_fails() -> None:
    found = verdicts(check_redis_config({**SAFE, "maxmemory-policy": "allkeys-lru"}, {}))
    assert found["redis eviction"] is Verdict.FAIL


def test_a_broker_without_persistence_or_memory_limit_is_warned_about() -> None:
    found = verdicts(check_redis_config({**SAFE, "appendonly": "no", "maxmemory": "0"}, {}))
    assert found["redis persistence"] is Verdict.WARN
    assert found["redis memory"] is Verdict.WARN


def test_waiting_messages_with_no_consumer_fail() -> None:
    found = verdicts(check_consumers({"clean": 100}, {"fetch": 1, "crawl": 1}))
    assert found["queue clean"] is Verdict.FAIL
    assert found["queue fetch"] is Verdict.OK
    assert found["queue dedup"] is Verdict.WARN  # idle and unconsumed


def test_no_worker_answering_is_warned_about() -> None:
    assert verdicts(check_consumers({}, None)) == {"workers": Verdict.WARN}


def test_a_silent_scheduler_fails() -> None:
    assert check_scheduler(None, 1000.0).verdict is Verdict.FAIL
    assert check_scheduler(1000.0 - 600, 1000.0).verdict is Verdict.FAIL
    assert check_scheduler(1000.0 - 5, 1000.0).verdict is Verdict.OK


def test_an_unreachable_redis_is_a_finding_with_the_password_masked() -> None:
    settings = Settings().with_overrides(redis_url="redis://:hunter2@127.0.0.1:1/0")
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    findings = run_checks(settings, dead, lambda: "fine", lambda: None, lambda: {}, lambda: {})
    [redis_finding] = [f for f in findings if f.check == "redis"]
    assert redis_finding.verdict is Verdict.FAIL
    assert "hunter2" not in redis_finding.detail
    assert "***" in redis_finding.detail


def test_sqlite_is_a_warning_for_a_deployment_of_one_machine() -> None:
    assert verdicts(check_settings(Settings()))["database"] is Verdict.WARN
    postgres = Settings().with_overrides(database_url="postgresql+psycopg://u@db/newsflow")
    assert "database" not in verdicts(check_settings(postgres))
