"""Celery tasks: thin adapters from a queue message to the stage runner.

Each task owns its queue and name; the work is in `workers.runner` (semantics) and
`workers.steps` (what a stage does). Signals here bind every log line of a task to its article.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog
from celery import Task, signals

from workers.app import app
from workers.demo.server import SITE_ROOT
from workers.errors import SkipArticle
from workers.pipeline import Stage, task_name
from workers.queueing import enqueue_crawl, enqueue_stage
from workers.runner import StageRunner
from workers.services import get_services, reset_services
from workers.sources import crawl_feed as crawl_feed_step
from workers.stages.classify.parallel import single_thread_compute
from workers.stages.clean import clean_page

_runner: StageRunner | None = None
# The queues this worker consumes, set by `newsflow worker` before it starts: stages with a
# slow first use (the classifier loads its model) are warmed when each pool process starts,
# so the first article does not pay for it.
consumed_queues: frozenset[str] = frozenset()
WARM_UP_PAGE = SITE_ROOT / "ledger" / "world-flood-talks.html"


def _stage_runner() -> StageRunner:
    global _runner
    if _runner is None:
        _runner = StageRunner(get_services(), lambda stage, aid: enqueue_stage(app, stage, aid))
    return _runner


def _run(task: Task, stage: Stage, article_id: str) -> str:
    return _stage_runner().run(task, stage, article_id)


@app.task(name=task_name("fetch"), bind=True, queue="fetch")
def fetch(self: Task, article_id: str) -> str:
    return _run(self, "fetch", article_id)


@app.task(name=task_name("clean"), bind=True, queue="clean")
def clean(self: Task, article_id: str) -> str:
    return _run(self, "clean", article_id)


@app.task(name=task_name("dedup"), bind=True, queue="dedup")
def dedup(self: Task, article_id: str) -> str:
    return _run(self, "dedup", article_id)


@app.task(name=task_name("classify"), bind=True, queue="classify")
def classify(self: Task, article_id: str) -> str:
    return _run(self, "classify", article_id)


@app.task(name=task_name("crawl"), bind=True, queue="crawl")
def crawl(self: Task, feed_url: str) -> int:
    report = crawl_feed_step(
        feed_url,
        get_services(),
        lambda stage, aid: enqueue_stage(app, stage, aid),
        lambda child: enqueue_crawl(app, child),
    )
    return len(report.queued)


@signals.worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked child must not reuse its parent's Redis and database sockets.
    global _runner
    _runner = None
    reset_services()
    if "classify" in consumed_queues:
        single_thread_compute()  # one pool process per core already uses every core
    warm_up(consumed_queues)


def warm_up(queues: frozenset[str]) -> None:
    """Pay the first-use costs (model load, extractor imports) before taking messages."""
    if "classify" in queues:
        get_services().classifiers.current()
    if "clean" in queues:
        # A real article page, so the extractor's whole path (and its lazy imports) runs once.
        with contextlib.suppress(SkipArticle):
            clean_page(WARM_UP_PAGE.read_text(encoding="utf-8"))


@signals.task_prerun.connect
def _bind_task_context(task: Task | None = None, task_id: str | None = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    if task is None:
        return
    context = {"task": task.name, "task_id": task_id}
    article_id = task.request.get("article_id")
    if article_id:
        context["article_id"] = article_id
    structlog.contextvars.bind_contextvars(**context)


@signals.task_postrun.connect
def _unbind_task_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@signals.before_task_publish.connect
def _propagate_article_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Messages sent while handling an article carry its id even if the sender forgot to.
    if headers is None or headers.get("article_id"):
        return
    bound = structlog.contextvars.get_contextvars().get("article_id")
    if bound:
        headers["article_id"] = bound
