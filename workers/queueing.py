"""Putting work on the stage queues: the message is the article id, nothing more (claim check).

Headers carry what a delivery needs besides the id: `article_id` (every log line of the task is
bound to it), `enqueued_at` (queue wait, and the reconciler's "is it still waiting?" check),
`slot` (a rate-limit slot reserved for this delivery) and `infra_attempt` (how often it already
waited for our own database or Redis). A publish that cannot reach the broker raises
InfrastructureError: the article is safe in the store, and the reconciler will send it again.
"""

from __future__ import annotations

import time
from typing import Any

import kombu.exceptions
import redis

from workers.errors import InfrastructureError
from workers.models import SlotReservation
from workers.pipeline import CRAWL_QUEUE, Stage, task_name

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


class CeleryPublisher:
    """Sends stage messages through a Celery app (its connection pool, JSON, our queues)."""

    def __init__(self, celery: Any) -> None:
        self._celery = celery

    def send(
        self,
        stage: Stage,
        article_id: str,
        reservation: SlotReservation | None = None,
        infra_attempt: int = 0,
    ) -> None:
        try:
            self._celery.send_task(
                task_name(stage),
                args=[article_id],
                queue=stage.value,
                routing_key=stage.value,
                headers=stage_headers(article_id, reservation, infra_attempt),
            )
        except _BROKER_ERRORS as exc:
            raise InfrastructureError("broker_unavailable", f"publish {stage}: {exc}") from exc


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
