"""`newsflow replay`: send quarantined, skipped or stranded articles back through their stage."""

from __future__ import annotations

import argparse
import json

from workers.pipeline import Status
from workers.replay import replay_articles
from workers.settings import Settings

__all__ = ["register", "replay_articles", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "replay",
        help="re-run quarantined, skipped or stranded articles",
        description="Put failed (quarantined) articles, or skipped ones with --skipped, back on "
        "the queue of the stage where they stopped, with a fresh retry budget, e.g. after "
        "fixing the cause. With --stuck, do by hand what the scheduler's reconciler does: send "
        "every stranded article (pending, overdue by --older-than seconds, with no message "
        "queued, running or deferred) to the stage it waits for.",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="article ids (default: all failed)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--skipped", action="store_true", help="replay skipped articles instead")
    which.add_argument("--stuck", action="store_true", help="resend stranded articles")
    p.add_argument(
        "--older-than",
        type=float,
        default=None,
        metavar="S",
        help="with --stuck: overdue for at least S seconds (default NEWSFLOW_STRANDED_AFTER)",
    )
    p.add_argument("--limit", type=int, default=1000, help="most articles to replay (default 1000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.app import app
    from workers.queueing import CeleryPublisher
    from workers.reconciler import RedisQueueProbe, reconcile
    from workers.services import Services

    svc = Services(settings)
    if args.stuck:
        report = reconcile(
            svc.store,
            RedisQueueProbe(svc.redis),
            svc.stage_guard,
            svc.deferrals,
            CeleryPublisher(app),
            stranded_after=settings.stranded_after if args.older_than is None else args.older_than,
            worker="newsflow replay --stuck",
            limit=args.limit,
        )
        resent = [
            {"id": s.article_id, "stage": s.stage.value, "status": s.status.value}
            for s in report.resent
        ]
        print(json.dumps({"examined": report.examined, "replayed": resent}))
        return 0
    status = Status.SKIPPED if args.skipped else Status.FAILED
    ids = args.ids or [a.id for a in svc.store.list_articles(status=status, limit=args.limit)]
    replayed = replay_articles(svc, app, ids, status)
    print(json.dumps({"replayed": [{"id": aid, "stage": stage} for aid, stage in replayed]}))
    return 0
