"""`newsflow doctor`'s checks: is this deployment set up so that nothing gets lost?

Each check looks at one thing on the live deployment (the broker Redis, the database, the
queues and their consumers, the scheduler, the settings) and answers ok, warn or fail with
what to do. They read only; docs/operations.md explains every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workers.pipeline import QUEUES
from workers.settings import Settings, redacted


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    verdict: Verdict
    detail: str


def check_redis_config(config: Mapping[str, str], info: Mapping[str, Any]) -> list[Finding]:
    """The broker Redis: it must never evict keys, should keep its data across restarts, and
    should have a memory limit."""
    found = []
    policy = config.get("maxmemory-policy", "")
    found.append(
        Finding("redis eviction", Verdict.OK, "maxmemory-policy noeviction")
        if policy == "noeviction"
        else Finding(
            "redis eviction",
            Verdict.FAIL,
            f"maxmemory-policy is {policy!r}: under memory pressure Redis deletes queued "
            "messages and locks; set `maxmemory-policy noeviction`",
        )
    )
    if config.get("appendonly") == "yes":
        fsync = config.get("appendfsync", "")
        found.append(Finding("redis persistence", Verdict.OK, f"AOF on (appendfsync {fsync})"))
    else:
        found.append(
            Finding(
                "redis persistence",
                Verdict.WARN,
                "AOF is off: a restart empties every queue; the reconciler then resends every "
                "pending article from the store after NEWSFLOW_STRANDED_AFTER. Set "
                "`appendonly yes` (appendfsync everysec or always)",
            )
        )
    maxmemory = int(config.get("maxmemory", "0") or 0)
    used = int(info.get("used_memory", 0) or 0)
    if maxmemory == 0:
        found.append(
            Finding(
                "redis memory",
                Verdict.WARN,
                f"no maxmemory (using {used / 2**20:.0f} MiB): a backlog grows until the "
                "machine runs out; set maxmemory, with room for the dedup window",
            )
        )
    else:
        share = used / maxmemory
        verdict = Verdict.OK if share < 0.8 else Verdict.WARN
        found.append(
            Finding(
                "redis memory",
                verdict,
                f"{used / 2**20:.0f} of {maxmemory / 2**20:.0f} MiB ({share:.0%}) used",
            )
        )
    return found


def check_consumers(
    depths: Mapping[str, int], consumers: Mapping[str, int] | None
) -> list[Finding]:
    """Every queue with waiting messages needs at least one worker consuming it."""
    if consumers is None:
        return [
            Finding(
                "workers",
                Verdict.WARN,
                "no worker answered `celery inspect` within the timeout (none running, or "
                "remote control disabled)",
            )
        ]
    found = []
    for queue in QUEUES:
        n, waiting = consumers.get(queue, 0), depths.get(queue, 0)
        if n:
            found.append(Finding(f"queue {queue}", Verdict.OK, f"{n} worker(s), {waiting} waiting"))
        elif waiting:
            found.append(
                Finding(
                    f"queue {queue}",
                    Verdict.FAIL,
                    f"{waiting} messages waiting and no worker consumes it: start one "
                    f"(`newsflow worker --queues {queue}`)",
                )
            )
        else:
            found.append(Finding(f"queue {queue}", Verdict.WARN, "no worker consumes it"))
    return found


def check_scheduler(last_tick: float | None, now: float, tick_seconds: float = 10.0) -> Finding:
    if last_tick is None:
        return Finding(
            "scheduler",
            Verdict.FAIL,
            "no scheduler has ever ticked: without one, feeds are not polled, retries are not "
            "dispatched and stranded articles are not recovered (`newsflow scheduler`)",
        )
    age = now - last_tick
    if age > 6 * tick_seconds:
        return Finding(
            "scheduler",
            Verdict.FAIL,
            f"last tick {age:.0f} s ago: no scheduler is running (`newsflow scheduler`)",
        )
    return Finding("scheduler", Verdict.OK, f"last tick {age:.1f} s ago")


def check_settings(settings: Settings) -> list[Finding]:
    found = []
    if settings.database_url.startswith("sqlite"):
        found.append(
            Finding(
                "database",
                Verdict.WARN,
                "SQLite: fine on one machine; workers on several machines need PostgreSQL "
                "(DATABASE_URL=postgresql+psycopg://...)",
            )
        )
    return found


def run_checks(
    settings: Settings,
    redis_client: Any,
    database_check: Callable[[], str],
    consumers: Callable[[], Mapping[str, int] | None],
    stranded: Callable[[], Mapping[str, Mapping[str, float]]],
    depths: Callable[[], Mapping[str, int]],
) -> list[Finding]:
    """Every check, each one failing on its own (a dead Redis is a finding, not a crash)."""
    findings: list[Finding] = []
    try:
        redis_client.ping()
        findings.append(Finding("redis", Verdict.OK, f"{redacted(settings.redis_url)} answers"))
        findings += check_redis_config(redis_client.config_get("*"), redis_client.info("memory"))
        last = redis_client.get(f"{settings.key_prefix}:scheduler:last_tick")
        findings.append(check_scheduler(float(last) if last else None, time.time()))
        findings.append(
            Finding(
                "deferred",
                Verdict.OK,
                f"{redis_client.zcard(settings.key_prefix + ':deferred')} deliveries due later",
            )
        )
    except Exception as exc:
        findings.append(Finding("redis", Verdict.FAIL, f"{redacted(settings.redis_url)}: {exc}"))
        return findings + check_settings(settings)
    try:
        findings.append(Finding("database", Verdict.OK, database_check()))
    except Exception as exc:
        findings.append(
            Finding("database", Verdict.FAIL, f"{redacted(settings.database_url)}: {exc}")
        )
        return findings + _consumer_findings(depths, consumers) + check_settings(settings)
    findings += _consumer_findings(depths, consumers)
    try:
        lost = stranded()
        if lost:
            summary = ", ".join(
                f"{status}={int(v['count'])} (oldest overdue {v['oldest_overdue_s']:.0f} s)"
                for status, v in lost.items()
            )
            findings.append(
                Finding(
                    "stranded articles",
                    Verdict.WARN,
                    f"{summary}: the reconciler resends them; `newsflow replay --stuck` now",
                )
            )
        else:
            findings.append(Finding("stranded articles", Verdict.OK, "none"))
    except Exception as exc:
        findings.append(Finding("stranded articles", Verdict.WARN, f"not checked: {exc}"))
    return findings + check_settings(settings)


def _consumer_findings(
    depths: Callable[[], Mapping[str, int]],
    consumers: Callable[[], Mapping[str, int] | None],
) -> list[Finding]:
    try:
        return check_consumers(depths(), consumers())
    except Exception as exc:
        return [Finding("workers", Verdict.FAIL, f"cannot inspect workers: {exc}")]
