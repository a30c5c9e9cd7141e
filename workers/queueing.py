"""Putting work on the stage queues: the message is the article id, nothing more (claim check)."""

from __future__ import annotations

import time
from typing import Any

from workers.pipeline import Stage, task_name


def enqueue_stage(celery: Any, stage: Stage, article_id: str) -> None:
    """Send `article_id` to `stage`'s queue; headers carry the id and the enqueue time."""
    celery.send_task(
        task_name(stage),
        args=[article_id],
        queue=stage,
        routing_key=stage,
        headers={"article_id": article_id, "enqueued_at": time.time()},
    )


def enqueue_crawl(celery: Any, feed_url: str) -> None:
    celery.send_task(
        task_name("crawl"),
        args=[feed_url],
        queue="crawl",
        routing_key="crawl",
        headers={"feed_url": feed_url, "enqueued_at": time.time()},
    )
