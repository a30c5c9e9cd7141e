"""Crawl outcomes counted in Redis: one small write per feed poll, shared by every crawler.

Article stages are counted from the `events` table (`workers.event_stats`), but a feed poll
writes no event row, and polls are few (one per feed per interval, against one per article per
stage): one pipelined HINCRBY per poll costs nothing that matters. The counters are cumulative
for the deployment (they live as long as the Redis data does), read by the metrics collector
and `newsflow status`.

Key: `{prefix}:crawl:counts` (hash): `polls:{outcome}` per outcome, `entries_found`,
`entries_new` (queued as new articles), `entries_seen` (already seen in the window).
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis

# What a poll can end as (workers.sources.crawl_feed).
CRAWL_OUTCOMES = ("ok", "not_modified", "failed", "postponed", "incomplete")


class CrawlCounters:
    def __init__(self, client: Any, key_prefix: str) -> None:
        self._client = client
        self.key = f"{key_prefix}:crawl:counts"

    def record(self, outcome: str, found: int = 0, new: int = 0, seen: int = 0) -> None:
        """Count one poll of one feed. Never raises: a lost tick must not fail a crawl."""
        with contextlib.suppress(redis.RedisError):
            pipe = self._client.pipeline(transaction=False)
            pipe.hincrby(self.key, f"polls:{outcome}", 1)
            for field, n in (
                ("entries_found", found),
                ("entries_new", new),
                ("entries_seen", seen),
            ):
                if n:
                    pipe.hincrby(self.key, field, n)
            pipe.execute()

    def read(self) -> dict[str, int]:
        """Every counter, the poll outcomes that never happened included (as 0)."""
        raw = self._client.hgetall(self.key)
        counts = {f"polls:{o}": 0 for o in CRAWL_OUTCOMES}
        counts.update({"entries_found": 0, "entries_new": 0, "entries_seen": 0})
        counts.update({k.decode(): int(v) for k, v in raw.items()})
        return counts


__all__ = ["CRAWL_OUTCOMES", "CrawlCounters"]
