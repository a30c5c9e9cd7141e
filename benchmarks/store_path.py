"""The store's share of a stage: CPU per article of the reads and writes every stage makes.

Creates N queued articles in a scratch SQLite database (or --database-url), then for each
stage in order loads every article's input and saves its result with one trace event, as the
runner does, and prints CPU milliseconds per article in this process (the database's own work
included for SQLite, which runs in process).

    .venv/bin/python benchmarks/store_path.py [--articles 400] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.pipeline import STAGES, Stage, status_after
from workers.store import open_store
from workers.store.repository import EventRecord, StageOutput, new_article_id

HTML = "<html><body>" + "<p>word word word word word</p>" * 1000 + "</body></html>"  # ~30 KB
TEXT = " ".join(["word"] * 800)


def outputs(now: datetime) -> dict[Stage, Callable[[str], StageOutput]]:
    return {
        Stage.FETCH: lambda a: FetchedPage(
            url=f"https://example.org/{a}",
            final_url=f"https://example.org/{a}",
            status=200,
            content_type="text/html",
            encoding="utf-8",
            html=HTML,
            fetched_at=now,
        ),
        Stage.CLEAN: lambda a: CleanedArticle(
            title="A title",
            text=TEXT,
            lead="A lead.",
            authors=("A. Writer",),
            published_at="2026-01-01T00:00:00Z",
            language="en",
            tags=("world",),
        ),
        Stage.DEDUP: lambda a: DedupVerdict(is_duplicate=False, cluster_id=a),
        Stage.CLASSIFY: lambda a: Classification(
            label="world",
            confidence=0.9,
            language="en",
            model_version="bench",
            scores={"world": 0.9},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'store.db'}"
        store = open_store(url)
        ids = [new_article_id() for _ in range(args.articles)]
        store.create_articles([(a, f"https://example.org/{a}") for a in ids], "bench")
        now = datetime.now(UTC)
        make = outputs(now)
        per_stage: dict[str, float] = {}
        for stage in STAGES:
            start = time.process_time()
            for a in ids:
                store.load_input(a, stage)
                event = EventRecord(
                    article_id=a, event=f"article_{stage.value}", stage=stage.value,
                    outcome="ok", at=now, duration_ms=1.0, queue_wait_ms=2.0, worker="bench",
                    detail={"bench": True},
                )  # fmt: skip
                if not store.complete_stage(a, stage, make[stage](a), status_after(stage), [event]):
                    raise SystemExit(f"{stage.value}: article {a} was not waiting for it")
            per_stage[stage.value] = (time.process_time() - start) * 1000 / len(ids)
        store.engine.dispose()
    total = sum(per_stage.values())
    detail = ", ".join(f"{name} {ms:.2f}" for name, ms in per_stage.items())
    print(f"{url.split(':', 1)[0]}: {total:.2f} ms CPU per article ({detail})")


if __name__ == "__main__":
    main()
