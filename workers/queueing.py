"""Putting work on the stage queues: the message is article ids, nothing more (claim check).

A message names one article, or several that became ready together (`send_batch`: an ingest
call, a feed's new entries, a batch moving on to its next stage; at most
`Settings.stage_batch`): the task's arguments are the ids, and the stage runs each as if it had
come alone (`StageRunner.run_batch`). Headers carry what a delivery needs besides the ids:
`article_id` (one article's message: every log line of the task is bound to it), `batch` (how
many articles a batch message names), `enqueued_at` (queue wait, and the reconciler's "is it
still waiting?" check), `slot` (a rate-limit slot reserved for this delivery) and
`infra_attempt` (how often it already waited for our own database or Redis); the last two only
ever belong to one article's message. A publish that cannot reach the broker raises
InfrastructureError: the articles are safe in the store, and the reconciler sends them again.

A stage message is written straight onto its queue in the layout kombu's Redis transport reads
(see `stage_message`), one LPUSH: Celery's `send_task` cost ~0.5 ms of CPU per message, a fifth
of the fetch and dedup workers' time in the pipeline benchmark, for the same bytes. With task
events on (NEWSFLOW_CELERY_TASK_EVENTS, for Flower's task views) messages go through
`send_task`, which also emits the task-sent event.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import kombu.exceptions
import redis

from workers.errors import InfrastructureError
from workers.models import SlotReservation
from workers.pipeline import CRAWL_QUEUE, Stage, task_name

if TYPE_CHECKING:
    from workers.settings import Settings

# What a publish raises when the broker is away (kombu wraps most of them in OperationalError).
_BROKER_ERRORS: tuple[type[Exception], ...] = (
    kombu.exceptions.OperationalError,
    redis.RedisError,
    OSError,
)


def stage_headers(
    article_id: str, reservation: SlotReservation | None = None, infra_attempt: int = 0
) -> dict[str, Any]:
    headers: dict[str, Any] = {"article_id": article_id, "enqueued_at": time.time()}
    if reservation is not None:
        headers["slot"] = [reservation.host, reservation.at]
    if infra_attempt:
        headers["infra_attempt"] = infra_attempt
    return headers


def batch_headers(articles: int) -> dict[str, Any]:
    return {"batch": articles, "enqueued_at": time.time()}


def stage_message(
    task: str, queue: str, args: list[Any], headers: dict[str, Any], origin: str
) -> dict[str, Any]:
    """A task message as Celery's `send_task` and kombu's Redis transport would store it, with
    the lean envelope of `workers.app` (no default-valued headers, the body as JSON text): the
    task name and id in the headers, (args, kwargs, embed) as the body, the queue in
    delivery_info, a fresh delivery tag. Celery's worker reads it unchanged
    (tests/test_broker_messages.py builds its Request from one)."""
    task_id = str(uuid.uuid4())
    return {
        "body": json.dumps([args, {}, {}]),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": task, "id": task_id, "origin": origin, **headers},
        "properties": {
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "utf-8",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


class CeleryPublisher:
    """Sends stage messages to the Celery workers of `celery`'s broker: one LPUSH onto the
    stage's queue (its key under kombu's `global_keyprefix`, when set), or Celery's
    `send_task` when task-sent events are wanted."""

    def __init__(self, celery: Any) -> None:
        conf = celery.conf
        self._setup(
            broker_url=str(conf.broker_url or ""),
            task_events=bool(conf.task_send_sent_event),
            key_prefix=str((conf.broker_transport_options or {}).get("global_keyprefix", "")),
            app=lambda: celery,
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> CeleryPublisher:
        """The publisher of an app made from `settings` (`workers.app.create_app`), which only
        makes that app, and so imports Celery, if a message must go through `send_task`: a
        command that publishes (`newsflow ingest`) starts ~0.4 s sooner."""

        def app() -> Any:
            from workers.app import create_app

            return create_app(settings)

        publisher = cls.__new__(cls)
        publisher._setup(settings.redis_url, settings.celery_task_events, "", app)
        return publisher

    def _setup(
        self, broker_url: str, task_events: bool, key_prefix: str, app: Callable[[], Any]
    ) -> None:
        self._broker_url = broker_url
        self._app = app
        self._celery: Any = None
        # Plain Redis URLs only: a Sentinel or failover-list broker goes through kombu.
        scheme = broker_url.partition("://")[0]
        self._direct = scheme in ("redis", "rediss") and not task_events
        self._key_prefix = key_prefix
        self._client: redis.Redis | None = None
        self._pid = 0
        self._origin = ""

    def send(
        self,
        stage: Stage,
        article_id: str,
        reservation: SlotReservation | None = None,
        infra_attempt: int = 0,
    ) -> None:
        self._publish(stage, [article_id], stage_headers(article_id, reservation, infra_attempt))

    def send_batch(self, stage: Stage, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        self._publish(stage, list(article_ids), batch_headers(len(article_ids)))

    def _publish(self, stage: Stage, args: list[str], headers: dict[str, Any]) -> None:
        try:
            if self._direct:
                client = self._redis()
                message = stage_message(task_name(stage), stage.value, args, headers, self._origin)
                client.lpush(f"{self._key_prefix}{stage.value}", json.dumps(message))
                return
            if self._celery is None:
                self._celery = self._app()
            self._celery.send_task(
                task_name(stage),
                args=args,
                queue=stage.value,
                routing_key=stage.value,
                headers=headers,
            )
        except _BROKER_ERRORS as exc:
            raise InfrastructureError("broker_unavailable", f"publish {stage}: {exc}") from exc

    def _redis(self) -> redis.Redis:
        # One client per process: a forked child opens its own connections (and is another
        # sender: `origin` names it as Celery names an anonymous producer, "gen<pid>@<host>").
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(
                self._broker_url,
                health_check_interval=30,
                socket_connect_timeout=5,
            )
            self._pid = os.getpid()
            self._origin = f"gen{self._pid}@{socket.gethostname()}"
        return self._client


def enqueue_crawl(celery: Any, feed_url: str) -> None:
    try:
        celery.send_task(
            task_name(CRAWL_QUEUE),
            args=[feed_url],
            queue=CRAWL_QUEUE,
            routing_key=CRAWL_QUEUE,
            headers={"feed_url": feed_url, "enqueued_at": time.time()},
        )
    except _BROKER_ERRORS as exc:
        raise InfrastructureError("broker_unavailable", f"publish crawl: {exc}") from exc
