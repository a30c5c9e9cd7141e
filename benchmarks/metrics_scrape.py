"""What a Prometheus scrape costs: folding N new event rows into the collector's counters.

    python benchmarks/metrics_scrape.py [--events 60000] [--database-url URL]

Writes N events (six per article, the shape the stages write) into a fresh store (a temporary
SQLite file, or --database-url: give it an empty scratch database, the store's tables are
created in it), then times the first scrape that folds them (`NewsflowCollector(from_start=
True)`) and a scrape with nothing new. Needs Redis on REDIS_URL (default
redis://127.0.0.1:6379/0); it only reads there."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from workers.metrics import NewsflowCollector
from workers.services import Services
from workers.settings import Settings
from workers.store.repository import EventRecord

SHAPE = [
    ("article_fetched", "fetch", "ok", {"http_status": 200, "bytes": 48_000, "final_url": "u"}),
    ("article_cleaned", "clean", "ok", {"title": "A title of some length", "words": 640}),
    ("article_deduplicated", "dedup", "new", {"cluster_id": "c" * 32, "level": None}),
    ("article_classified", "classify", "ok", {"label": "world", "confidence": 0.91,
                                              "language": "en", "model_version": "m"}),
    ("article_stored", "classify", "stored", {}),
    ("article_queued", "fetch", "ok", {}),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/scrape.db"
        settings = Settings().with_overrides(
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            database_url=url,
            key_prefix="bench-scrape",
        )
        svc = Services(settings)
        now = datetime.now(UTC)
        batch: list[EventRecord] = []
        for n in range(args.events):
            name, stage, outcome, detail = SHAPE[n % len(SHAPE)]
            batch.append(
                EventRecord(f"{n // 6:032x}", name, stage, outcome, now, 12.5, 80.0, 1, "w", detail)
            )
            if len(batch) == 5000:
                _insert(svc, batch)
                batch = []
        if batch:
            _insert(svc, batch)
        registry = CollectorRegistry()
        registry.register(NewsflowCollector(svc, from_start=True))
        started = time.perf_counter()
        generate_latest(registry)
        first = time.perf_counter() - started
        started = time.perf_counter()
        generate_latest(registry)
        idle = time.perf_counter() - started
        print(
            f"{args.events} new events: first scrape {first * 1000:.0f} ms "
            f"({first / args.events * 1e6:.1f} us per event); nothing new: {idle * 1000:.0f} ms"
        )
        svc.close()


def _insert(svc: Services, batch: list[EventRecord]) -> None:
    with svc.store._session() as s:  # the store's own event insert, as the stages make it
        svc.store._add_events(s, batch)


if __name__ == "__main__":
    main()
