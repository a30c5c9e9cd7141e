"""The Celery application: Redis broker, JSON only, late acks, one queue per stage.

Everything about how messages are delivered is configured here and nowhere else; the tasks
module registers the thin task adapters against this app.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu.entity import Queue

from workers.logconfig import configure_logging
from workers.pipeline import QUEUES
from workers.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {
        # No ack emulation: kombu's Redis transport would record every delivered message in an
        # "unacked" hash and sorted set and delete it on ack (~32 Redis commands per article,
        # a third of all, benchmarks/pipeline.py), only to hand a dead worker's message back an
        # hour later (the visibility timeout). The store is the source of truth instead: the
        # reconciler (workers/reconciler.py) resends an article whose message is gone within
        # NEWSFLOW_STRANDED_AFTER, which also covers the windows ack emulation never closed (a
        # consumer killed between popping and recording, a retry that could not be published).
        # A warm shutdown still puts reserved messages back on their queue.
        "ack_emulation": False,
        # Keep ordering roughly FIFO per queue and wake idle workers promptly.
        "polling_interval": 0.2,
        # The body (JSON text) as it is, not base64 inside the JSON envelope (a third larger).
        # Consumers decode by each message's own `body_encoding` property, so messages already
        # queued by an older release still decode.
        "body_encoding": "utf-8",
    }
    return {
        "broker_url": settings.redis_url,
        # Workers import the task adapters at start; senders only need task names.
        "imports": ["workers.tasks"],
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        # A worker outlives a broker restart: it reconnects for as long as it takes (the
        # default gives up after 100 attempts and the worker exits).
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_ignore_result": True,
        # At-least-once: ack after the task ran; a pool process that dies has its message
        # requeued by the worker; a whole worker that dies leaves it to the reconciler.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per process, so a slow page never strands queued work behind it.
        "worker_prefetch_multiplier": 1,
        "task_queues": [Queue(name, routing_key=name) for name in QUEUES],
        "task_default_queue": "fetch",
        "task_create_missing_queues": False,
        # A stage that outruns this is stuck (Settings.task_time_limit says why 300 s); the soft
        # limit gives it time to record a retry first.
        "task_time_limit": settings.task_time_limit,
        "task_soft_time_limit": settings.soft_time_limit,
        "worker_hijack_root_logger": False,
        # Task events for Flower's task views only when asked for (Settings.celery_task_events).
        "worker_send_task_events": settings.celery_task_events,
        "task_send_sent_event": settings.celery_task_events,
        # Recycle prefork children now and then: HTML parsing fragments memory over time.
        "worker_max_tasks_per_child": 2000,
        # On a broker connection loss, let running stages finish: their results are saved by
        # the store (idempotently); cancelling them has left prefork pools that never consumed
        # again after a Redis restart. Their acks may fail; the reconciler covers that.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    celery = Celery("newsflow")
    celery.conf.update(celery_config(settings))
    return celery


# Header values that say nothing: Celery's defaults, which the worker also assumes when a header
# is absent (celery.worker.request.Request reads each with .get and the same default; newsflow
# uses no canvas, ETA, expiry, Celery retry or per-message time limit). `argsrepr` repeats the
# article id (the `article_id` header has it) and `root_id` the task id. Dropped before
# publishing: a stage message goes from 1,091 to ~620 bytes (512 as workers.queueing writes it
# itself, without the reply_to and correlation_id properties nothing reads; benchmarks/pipeline.py).
_DEFAULT_HEADERS: dict[str, Any] = {
    "lang": "py",
    "shadow": None,
    "eta": None,
    "expires": None,
    "group": None,
    "group_index": None,
    "parent_id": None,
    "retries": 0,
    "timelimit": [None, None],
    "ignore_result": None,
    "replaced_task_nesting": 0,
    "stamped_headers": None,
    "stamps": {},
    "kwargsrepr": "{}",
}


@signals.before_task_publish.connect
def _lean_envelope(
    sender: str | None = None,
    headers: dict[str, Any] | None = None,
    body: Any = None,
    **_: Any,
) -> None:
    """Trim newsflow's own messages to what a worker reads (see _DEFAULT_HEADERS)."""
    if not sender or not sender.startswith("newsflow.") or headers is None:
        return
    for name, default in _DEFAULT_HEADERS.items():
        value = headers.get(name, default)
        if value == default or (isinstance(value, tuple) and list(value) == default):
            headers.pop(name, None)
    headers.pop("argsrepr", None)
    if headers.get("root_id") == headers.get("id"):
        headers.pop("root_id", None)
    # The body's third part names callbacks, errbacks, chain and chord: all None here, and the
    # task context defaults each to None when absent.
    embed = body[2] if isinstance(body, tuple) and len(body) == 3 else None
    if isinstance(embed, dict) and not any(embed.values()):
        embed.clear()


@signals.setup_logging.connect
def _take_over_logging(**_: Any) -> None:
    # Connecting to this signal stops Celery from installing its own handlers.
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)


@signals.celeryd_after_setup.connect
def _log_worker_started(sender: Any = None, instance: Any = None, **_: Any) -> None:
    # What Celery's banner says, as one event (the banner is off with JSON logs).
    import celery
    import structlog

    from workers.settings import redacted

    queues = sorted(instance.app.amqp.queues.consume_from or ()) if instance else []
    pool = getattr(instance, "pool_cls", None)
    structlog.get_logger("newsflow.worker").info(
        "worker_started",
        node=str(sender),
        queues=queues,
        pool=pool if isinstance(pool, str) else getattr(pool, "__module__", str(pool)),
        concurrency=getattr(instance, "concurrency", None),
        broker=redacted(str(instance.app.conf.broker_url)) if instance else None,
        celery_version=celery.__version__,
    )


app = create_app()
