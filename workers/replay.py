"""Replay: send quarantined (or skipped) articles back to the stage where they stopped.

Used by `newsflow replay` and by `newsflow serve`'s POST /api/replay. The store resets each
article (a fresh retry budget) only if it still has the expected status, so a replay asked
twice sends an article once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.pipeline import Stage, Status

if TYPE_CHECKING:
    from workers.services import Services


def replay_articles(
    svc: Services, celery: Any, ids: list[str], status: Status
) -> list[tuple[str, str]]:
    """Re-queue articles with `status` (failed or skipped) at the stage where they stopped."""
    from workers.queueing import CeleryPublisher

    publisher = CeleryPublisher(celery)
    replayed: list[tuple[str, str]] = []
    for article_id in ids:
        stage: Stage | None = svc.store.reset_for_replay(article_id, status)
        if stage is None:
            continue
        publisher.send(stage, article_id)
        replayed.append((article_id, stage.value))
    return replayed
