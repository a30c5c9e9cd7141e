"""Cost of one scheduler tick with 100,000 feeds in the store.

Fills a fresh database with N feeds of which a share is due, then times `scheduler_tick`
(claim the due feeds with one conditional UPDATE and put a crawl message on Redis for each),
and a tick when nothing is due (the steady-state cost of every tick).

    python benchmarks/scheduler_tick.py --feeds 100000 --due 0.01
    python benchmarks/scheduler_tick.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import redis
from sqlalchemy import delete, insert

from workers.scheduler import scheduler_tick
from workers.services import Services
from workers.settings import Settings
from workers.store.repository import utcnow
from workers.store.schema import Feed


def fill(svc: Services, feeds: int, due_share: float) -> None:
    now = utcnow()
    due_every = max(1, round(1 / due_share)) if due_share > 0 else feeds + 1
    rows = [
        {
            "url": f"https://site{i}.example/feed.xml",
            "kind": "rss",
            "interval_s": 900,
            "current_interval_s": 900,
            "tags": [],
            "enabled": True,
            "consecutive_failures": 0,
            "last_new_items": 0,
            "next_due_at": now - timedelta(seconds=5)
            if i % due_every == 0
            else now + timedelta(seconds=60 + i % 3600),
        }
        for i in range(feeds)
    ]
    with svc.store.engine.begin() as conn:
        conn.execute(delete(Feed))
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(Feed), rows[start : start + 10_000])


def timed_tick(svc: Services, client: redis.Redis, queue_key: str) -> tuple[float, int]:
    client.delete(svc.key("scheduler", "tick"))
    started = time.perf_counter()
    due = scheduler_tick(svc, lambda url: client.rpush(queue_key, url), 10.0, "bench") or 0
    return (time.perf_counter() - started) * 1000, due


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=100_000)
    parser.add_argument("--due", type=float, default=0.01, help="share of feeds due (0.01)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--repeat", type=int, default=5, help="idle ticks to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        prefix = f"nfbench-{uuid.uuid4().hex[:6]}"
        settings = Settings().with_overrides(
            database_url=database_url, redis_url=args.redis_url, key_prefix=prefix
        )
        svc = Services(settings)
        client = redis.Redis.from_url(args.redis_url)
        queue_key = f"{prefix}:bench-crawl"
        fill(svc, args.feeds, args.due)
        busy_ms, due = timed_tick(svc, client, queue_key)
        idle = [timed_tick(svc, client, queue_key)[0] for _ in range(args.repeat)]
        print(f"database: {svc.store.engine.dialect.name}, feeds: {args.feeds:,}")
        print(
            f"tick with {due:,} due feeds: {busy_ms:.1f} ms ({busy_ms / max(due, 1):.3f} ms/feed)"
        )
        print(f"tick with none due: median {statistics.median(idle):.2f} ms over {args.repeat}")
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
        with svc.store.engine.begin() as conn:
            conn.execute(delete(Feed))


if __name__ == "__main__":
    main()
