"""Celery tasks: thin adapters from a queue message to the stage runner.

`StageTask` is the only code in newsflow that reads a Celery request: it turns one into a plain
`Delivery` and hands it to `workers.runner.StageRunner`, which owns every queue semantic (and
never retries through Celery: waiting happens in Redis, see `workers.adapters.deferrals`).
Signals here bind every log line of a task to its article and warm each worker's stages.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any

import structlog
from celery import Task, signals
from celery.exceptions import SoftTimeLimitExceeded

from workers.app import app
from workers.memory import Trimmer
from workers.pipeline import CRAWL_QUEUE, Stage, task_name
from workers.warmup import warm_up

if TYPE_CHECKING:
    from workers.runner import Delivery, RetryPolicy, StageRunner
    from workers.services import Services

# What runs a stage (the runner, the store and SQLAlchemy, the services; for crawl, the feed and
# sitemap parsers) is imported where it is first used, not at the top: a prefork pool's parent
# imports this module to know its tasks but runs none, and with one pool process (classify on 2
# cores) there is no second process to share those ~30 MB with (docs/performance.md). A prefork
# parent of several pool processes imports these before it forks, so they share them.
RUNNER_MODULES = (
    "workers.adapters.stage_guard",
    "workers.queueing",
    "workers.runner",
    "workers.services",
    "workers.steps",
    "workers.tracing",
)

_runner: StageRunner | None = None

# A worker process that grew by this much since it last trimmed hands its free heap back after
# the task. 32 MB: with the clean stage over the dev pages, 4 trims in 450 pages, no CPU
# measured, the process 21 MB smaller; 16 MB trimmed every fifth page for 35 MB at ~5% CPU,
# and trimming after every task cost ~10% (docs/performance.md).
TRIM_AFTER_GROWTH = 32 * 1024 * 1024
_trimmer = Trimmer(TRIM_AFTER_GROWTH)


def retry_policy(svc: Services) -> RetryPolicy:
    from workers.runner import RetryPolicy

    s = svc.settings
    return RetryPolicy(
        max_retries=s.max_retries,
        max_deliveries=s.max_deliveries,
        backoff_base_s=s.retry_backoff,
        backoff_max_s=s.retry_backoff_max,
    )


def stage_runner() -> StageRunner:
    """This process's runner, wired to its services (rebuilt after a fork)."""
    global _runner
    if _runner is None:
        from redis.exceptions import RedisError
        from sqlalchemy.exc import SQLAlchemyError

        from workers.adapters.stage_guard import process_id
        from workers.queueing import CeleryPublisher
        from workers.runner import StageRunner
        from workers.services import get_services
        from workers.steps import build_steps
        from workers.tracing import Tracer

        svc = get_services()
        _runner = StageRunner(
            store=svc.store,
            guard=svc.stage_guard,
            deferrals=svc.deferrals,
            publisher=CeleryPublisher(app),
            steps=build_steps(svc),
            tracer=Tracer(),
            policy=retry_policy(svc),
            process_id=process_id(),
            infra_errors=(SQLAlchemyError, RedisError),
            time_limit_errors=(SoftTimeLimitExceeded,),
        )
    return _runner


def delivery_of(request: Any, stage: Stage, article_id: str) -> Delivery:
    """The plain values of a Celery request that the runner needs."""
    from workers.models import SlotReservation
    from workers.runner import Delivery

    slot = request.get("slot")
    delivery_info = request.delivery_info or {}
    enqueued_at = request.get("enqueued_at")
    return Delivery(
        stage=stage,
        article_id=article_id,
        message_id=str(request.id or ""),
        worker=str(request.hostname or ""),
        enqueued_at=float(enqueued_at) if enqueued_at is not None else None,
        redelivered=bool(delivery_info.get("redelivered")),
        reservation=SlotReservation(str(slot[0]), float(slot[1])) if slot else None,
        infra_attempt=int(request.get("infra_attempt") or 0),
    )


class StageTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    """Celery mechanics of every stage task: late acks, requeue when the worker process dies,
    and the request read once into a Delivery. A task returns its outcome's name."""

    acks_late = True
    reject_on_worker_lost = True
    # The runner never calls retry(): transient failures are deferred in Redis with the count
    # in the store. None here means "no cap" should anything ever call it.
    max_retries = None

    def deliver(self, stage: Stage, article_ids: tuple[str, ...]) -> str:
        """Run the stage for the message's articles; the outcome's name (one per article,
        comma-separated, for a batch)."""
        from workers.services import get_services

        runner = stage_runner()
        svc = get_services()
        svc.heartbeat.ensure_running()  # our stage locks live while we do
        if len(article_ids) == 1:
            return runner.run(delivery_of(self.request, stage, article_ids[0])).outcome.value
        deliveries = [delivery_of(self.request, stage, a) for a in article_ids]
        deadline = time.time() + svc.settings.batch_budget_s
        outcomes = runner.run_batch(deliveries, deadline)
        return ",".join(o.outcome.value for o in outcomes)


@app.task(name=task_name(Stage.FETCH), bind=True, base=StageTask, queue=Stage.FETCH.value)
def fetch(self: StageTask, *article_ids: str) -> str:
    return self.deliver(Stage.FETCH, article_ids)


@app.task(name=task_name(Stage.CLEAN), bind=True, base=StageTask, queue=Stage.CLEAN.value)
def clean(self: StageTask, *article_ids: str) -> str:
    return self.deliver(Stage.CLEAN, article_ids)


@app.task(name=task_name(Stage.DEDUP), bind=True, base=StageTask, queue=Stage.DEDUP.value)
def dedup(self: StageTask, *article_ids: str) -> str:
    return self.deliver(Stage.DEDUP, article_ids)


@app.task(name=task_name(Stage.CLASSIFY), bind=True, base=StageTask, queue=Stage.CLASSIFY.value)
def classify(self: StageTask, *article_ids: str) -> str:
    return self.deliver(Stage.CLASSIFY, article_ids)


@app.task(name=task_name(CRAWL_QUEUE), bind=True, queue=CRAWL_QUEUE, acks_late=True)
def crawl(self: Task, feed_url: str) -> int:
    from workers.queueing import CeleryPublisher, enqueue_crawl
    from workers.services import get_services
    from workers.sources import crawl_feed as crawl_feed_step

    svc = get_services()
    report = crawl_feed_step(
        feed_url,
        svc,
        CeleryPublisher(app),
        lambda child: enqueue_crawl(app, child),
        time_limit_errors=(SoftTimeLimitExceeded,),
    )
    return len(report.queued)


def consumed_queues() -> frozenset[str]:
    """The queues this worker consumes (set by `celery worker -Q` before the pool starts)."""
    return frozenset(app.amqp.queues.consume_from or ())


def start_heartbeat(queues: frozenset[str], node: str = "") -> None:
    """Beat from the start, idle or not, naming our queues and worker: dashboards and metrics
    count the processes and workers that consume each queue from these (a prefork pool's parent
    runs no stage and never beats)."""
    from workers.services import get_services

    heartbeat = get_services().heartbeat
    heartbeat.queues = queues
    heartbeat.node = node
    heartbeat.ensure_running()


@signals.worker_process_init.connect
def _fresh_connections(sender: Any = None, **_: Any) -> None:
    # A forked child must not reuse its parent's Redis and database sockets.
    from workers.services import reset_services

    global _runner
    _runner = None
    reset_services()
    queues = consumed_queues()
    start_heartbeat(queues, str(sender or ""))  # sender: the worker's node name
    if Stage.CLASSIFY.value in queues:
        # Imported here: the classifier's libraries (torch, scikit-learn) stay out of the
        # fetch, dedup and crawl workers, ~100 MB each.
        from workers.stages.classify.parallel import single_thread_compute

        single_thread_compute()  # one pool process per core already uses every core
    warm_up(queues)


@signals.celeryd_after_setup.connect
def _warm_up_before_consuming(sender: Any = None, instance: Any = None, **_: Any) -> None:
    # A threads or solo pool runs tasks in this process, so it pays the first-use costs here,
    # before it consumes. A prefork parent loads the extractor (its code and block model) before
    # the pool forks, so its children share those pages copy-on-write instead of each loading
    # its own. The classifier is not loaded in a prefork parent: torch's thread pools do not
    # survive a fork, and at one process per two cores (the default) there is nothing to share.
    # Nor is the stage runner's code (the store, SQLAlchemy, the services) imported in a prefork
    # parent of one pool process: its only child imports it either way.
    pool = getattr(instance, "pool_cls", None)
    pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    prefork = "prefork" in str(pool_name)
    queues = consumed_queues()
    if not prefork:
        # This process runs the stages (a prefork parent does not); sender: the node name.
        start_heartbeat(queues, str(sender or ""))
    elif int(getattr(instance, "concurrency", 1) or 1) > 1:
        for module in RUNNER_MODULES:
            importlib.import_module(module)
    # warm_up ends with gc.freeze(): in a prefork parent that keeps the children from copying
    # the shared pages (clean, parent and children: 364 -> 313-325 MB PSS, benchmarks/pipeline.py).
    warm_up(queues - {Stage.CLASSIFY.value} if prefork else queues)


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


@signals.task_postrun.connect
def _trim_after_growth(**_: Any) -> None:
    # In a threads pool two threads may both trim at once: harmless, and rare.
    _trimmer.after_task()


@signals.before_task_publish.connect
def _propagate_article_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Messages sent while handling an article carry its id even if the sender forgot to; a
    # batch message names several and is bound to none.
    if headers is None or headers.get("article_id") or headers.get("batch"):
        return
    bound = structlog.contextvars.get_contextvars().get("article_id")
    if bound:
        headers["article_id"] = bound
