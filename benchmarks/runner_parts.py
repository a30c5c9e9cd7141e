"""What the stage runner spends around a step: the dedup stage, each part timed.

Starts a private `redis-server`, a scratch SQLite store and the runner a dedup worker builds
(`workers.tasks.stage_runner`, JSON logs to /dev/null), puts N cleaned articles in the store (the
dev pages' text through the clean stage when ../shared/data is there, generated text otherwise),
then runs the dedup step alone over their inputs, and the whole runner over deliveries of the
same articles in a fresh index, with each of its parts timed: the input read, the stage guard,
the trace events and their log line, the store's write, the next stage's message. Prints CPU
milliseconds per article. Celery's own share is `benchmarks/celery_floor.py`; the store's, on
either database, `benchmarks/store_path.py`.

    .venv/bin/python benchmarks/runner_parts.py [--articles 400]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from private_redis import PrivateRedis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEV_PAGES = REPO.parent / "shared" / "data" / "extraction-dev" / "html"


def cleaned_articles(n: int) -> list[Any]:
    from workers.errors import SkipArticle
    from workers.models import CleanedArticle
    from workers.stages.clean import clean_page

    out: list[Any] = []
    for path in sorted(DEV_PAGES.glob("*.html.gz")) if DEV_PAGES.is_dir() else []:
        with gzip.open(path, "rt", errors="replace") as page:
            html = page.read()
        try:
            out.append(clean_page(html))
        except SkipArticle:
            continue
        if len(out) == n:
            return out
    words = [f"w{i}" for i in range(3000)]
    rng = random.Random(7)
    while len(out) < n:
        paragraphs = [" ".join(rng.choices(words, k=60)) + "." for _ in range(8)]
        out.append(CleanedArticle(title=f"Story {len(out)}", text="\n\n".join(paragraphs)))
    return out


def timed(parts: dict[str, float], obj: Any, name: str, label: str) -> None:
    """Wrap obj.name so that its CPU time adds up under `label`."""
    inner = getattr(obj, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            parts[label] += time.process_time() - start

    setattr(obj, name, wrapper)


def measure(articles: int) -> dict[str, float]:
    from workers.logconfig import configure_logging

    configure_logging("json", "INFO", stream=open(os.devnull, "w"))  # noqa: SIM115
    from workers.models import FetchedPage
    from workers.pipeline import Stage, Status
    from workers.runner import Delivery
    from workers.services import get_services
    from workers.steps import build_steps
    from workers.tasks import stage_runner
    from workers.warmup import warm_up

    texts = cleaned_articles(articles)
    svc = get_services()
    store = svc.store
    ids = [f"parts{i:06d}" for i in range(len(texts))]
    store.create_articles([(a, f"https://parts.example/{a}") for a in ids], "bench")
    now = datetime.now(UTC)
    page = FetchedPage(
        url="u", final_url="u", status=200, content_type="text/html", encoding="utf-8",
        html="<p>x</p>", fetched_at=now,
    )  # fmt: skip
    for article_id, text in zip(ids, texts, strict=True):
        store.complete_stage(article_id, Stage.FETCH, page, Status.FETCHED, [])
        store.complete_stage(article_id, Stage.CLEAN, text, Status.CLEANED, [])
    warm_up({"dedup"})
    inputs = [store.load_input(a, Stage.DEDUP) for a in ids]
    step = build_steps(svc)[Stage.DEDUP]
    start = time.process_time()
    for inp in inputs:
        step(inp, None)
    step_ms = (time.process_time() - start) * 1000 / len(ids)
    svc.redis.flushdb()  # a fresh dedup index: the runner's step does the same work again

    runner = stage_runner()
    parts: dict[str, float] = defaultdict(float)
    timed(parts, store, "load_input", "input read")
    timed(parts, runner.guard, "admit", "stage guard")
    timed(parts, runner.tracer, "event", "trace events")
    timed(parts, runner.tracer, "emit", "log line")
    timed(parts, store, "complete_stage", "store write")
    timed(parts, runner, "_send_on", "next stage's message")
    start = time.process_time()
    for article_id in ids:
        runner.run(Delivery(Stage.DEDUP, article_id, article_id, "bench", time.time()))
    total = (time.process_time() - start) * 1000 / len(ids)
    result = {"dedup step alone": step_ms, "runner, step included": total}
    result |= {label: used * 1000 / len(ids) for label, used in parts.items()}
    result["runner beyond the step"] = total - step_ms
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = PrivateRedis(Path(tmp))
        os.environ["REDIS_URL"] = server.url
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'parts.db'}"
        try:
            result = measure(args.articles)
        finally:
            server.stop()
    for label, ms in result.items():
        print(f"{label}: {ms:.3f} ms CPU per article")
    return 0


if __name__ == "__main__":
    sys.exit(main())
