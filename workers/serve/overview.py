"""/api/overview: everything the dashboard shows, section by section.

Each section needs Redis, the database or both, and is computed on its own: when a dependency
is down, the sections that need it answer `{"error": "<reason>"}` and the others their data,
so the page shows what it can and says what is missing. A section that fails for any other
reason (a bug) answers `{"error": "internal error", "error_id": ...}`, logged with that id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from workers.adapters.stage_guard import live_processes, workers_per_queue
from workers.observe import queue_depths, stranded_now, unacked_count
from workers.pipeline import QUEUES
from workers.reconciler import RedisQueueProbe
from workers.serve.health import DEPENDENCY_ERRORS, describe_error
from workers.store import reports

if TYPE_CHECKING:
    from workers.serve.context import ServeContext

log = structlog.get_logger("newsflow.serve")

# The scheduler ticks every 10 s by default; a minute without a tick means none is running.
SCHEDULER_STALE_AFTER_S = 60


def queues_section(ctx: ServeContext, now: float) -> dict[str, Any]:
    """Per queue: messages waiting, the age of the oldest one, and the live processes (and
    hosts) consuming it, from their heartbeats."""
    client = ctx.services.redis
    depths = queue_depths(client)
    probe = RedisQueueProbe(client)
    workers = workers_per_queue(live_processes(client, ctx.settings.key_prefix), QUEUES)
    section: dict[str, Any] = {}
    for queue in QUEUES:
        enqueued_at = probe.oldest_enqueued_at(queue)
        # 0.0: a message without our `enqueued_at` header (published by another tool).
        age = None if not enqueued_at else round(max(0.0, now - enqueued_at), 1)
        section[queue] = {
            "depth": depths[queue],
            "oldest_age_s": age,
            "workers": workers[queue]["processes"],
            "hosts": workers[queue]["hosts"],
        }
    return section


def in_flight_section(ctx: ServeContext, _now: float) -> dict[str, Any]:
    client = ctx.services.redis
    return {"unacked": unacked_count(client), "deferred": ctx.services.deferrals.count()}


def scheduler_section(ctx: ServeContext, now: float) -> dict[str, Any]:
    raw = ctx.services.redis.get(f"{ctx.settings.key_prefix}:scheduler:last_tick")
    last = float(raw) if raw else None
    age = None if last is None else round(max(0.0, now - last), 1)
    return {
        "last_tick": last,
        "age_s": age,
        "stale_after_s": SCHEDULER_STALE_AFTER_S,
        "stale": age is None or age > SCHEDULER_STALE_AFTER_S,
    }


def articles_section(ctx: ServeContext, _now: float) -> dict[str, Any]:
    return dict(sorted(ctx.services.store.counts_by_status().items()))


def throughput_section(ctx: ServeContext, now: float) -> dict[str, Any]:
    return reports.stage_throughput(ctx.services.store.engine, _utc(now))


def latency_section(ctx: ServeContext, now: float) -> dict[str, Any]:
    return reports.latency_percentiles(ctx.services.store.engine, _utc(now))


def feeds_section(ctx: ServeContext, now: float) -> dict[str, Any]:
    return reports.feed_health(ctx.services.store.engine, _utc(now))


def stranded_section(ctx: ServeContext, _now: float) -> dict[str, Any]:
    return stranded_now(ctx.services)


def failures_section(ctx: ServeContext, _now: float) -> dict[str, Any]:
    return reports.recent_failures(ctx.services.store.engine)


def dependencies_section(ctx: ServeContext, _now: float) -> dict[str, str]:
    return ctx.readiness.check()


Section = Callable[["ServeContext", float], Any]

# In the order the page shows them.
SECTIONS: dict[str, Section] = {
    "dependencies": dependencies_section,
    "scheduler": scheduler_section,
    "queues": queues_section,
    "in_flight": in_flight_section,
    "articles": articles_section,
    "throughput": throughput_section,
    "latency": latency_section,
    "stranded": stranded_section,
    "feeds": feeds_section,
    "failures": failures_section,
}


def compute_section(name: str, section: Section, ctx: ServeContext, now: float) -> Any:
    """One section's data, or {"error": ...} when it could not be computed."""
    try:
        return section(ctx, now)
    except DEPENDENCY_ERRORS as exc:
        return {"error": describe_error(exc)}
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("overview_section_failed", section=name, error_id=error_id)
        return {"error": "internal error", "error_id": error_id}


def build_overview(ctx: ServeContext, sections: dict[str, Section] | None = None) -> dict[str, Any]:
    now = ctx.clock()
    overview: dict[str, Any] = {
        "generated_at": _utc(now).isoformat(),
        "now": now,
        "window_s": reports.WINDOW_S,
        "replay_enabled": ctx.replay_enabled,
    }
    chosen = SECTIONS if sections is None else sections
    # Side by side: a dependency that times out costs one timeout, not one per section.
    with ThreadPoolExecutor(max_workers=max(1, len(chosen)), thread_name_prefix="overview") as pool:
        futures = {
            name: pool.submit(compute_section, name, section, ctx, now)
            for name, section in chosen.items()
        }
        for name, future in futures.items():
            overview[name] = future.result()
    return overview


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
