"""`newsflow replay`: send quarantined (failed) or skipped articles back through their stage."""

from __future__ import annotations

import argparse
import json
from typing import Any

from workers.app import app
from workers.pipeline import as_stage, status_before
from workers.queueing import enqueue_stage
from workers.services import Services
from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "replay",
        help="re-run quarantined articles",
        description="Put failed (quarantined) articles, or skipped ones with --skipped, back on "
        "the queue of the stage where they stopped, e.g. after fixing the cause.",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="article ids (default: all failed)")
    p.add_argument("--skipped", action="store_true", help="replay skipped articles instead")
    p.add_argument("--limit", type=int, default=1000, help="most articles to replay (default 1000)")
    p.set_defaults(func=run)


def replay_articles(
    svc: Services, celery: Any, ids: list[str], status: str
) -> list[tuple[str, str]]:
    """Re-queue articles with `status` (failed or skipped) at the stage where they stopped."""
    replayed: list[tuple[str, str]] = []
    for article_id in ids:
        record = svc.store.get(article_id)
        if record is None or record.status != status:
            continue
        stage = as_stage(record.failed_stage or "fetch")
        svc.store.reset_for_replay(article_id, status_before(stage))
        enqueue_stage(celery, stage, article_id)
        replayed.append((article_id, stage))
    return replayed


def run(args: argparse.Namespace, settings: Settings) -> int:
    svc = Services(settings)
    status = "skipped" if args.skipped else "failed"
    ids = args.ids or [a.id for a in svc.store.list_articles(status=status, limit=args.limit)]
    replayed = replay_articles(svc, app, ids, status)
    print(json.dumps({"replayed": [{"id": aid, "stage": stage} for aid, stage in replayed]}))
    return 0
