"""`newsflow scheduler`: the periodic tick that enqueues due feeds (safe to run several)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "scheduler",
        help="enqueue due feeds on a schedule",
        description="Every --tick seconds, claim the feeds whose next poll is due and put them "
        "on the crawl queue; send deferred deliveries (retries, a polite host's turn) back to "
        "their queue when due; and every NEWSFLOW_RECONCILE_INTERVAL seconds send stranded "
        "articles (pending, overdue, with no message anywhere) to their stage again; and relay "
        "articles' ends from the store to the event stream (docs/events.md). Several "
        "schedulers may run for availability; each part is safe to run twice.",
    )
    p.add_argument("--tick", type=float, default=10.0, help="seconds between ticks (default 10)")
    p.add_argument(
        "--once",
        action="store_true",
        help="run a single feed tick, reconciler pass and event relay batch, and exit",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.app import app
    from workers.queueing import CeleryPublisher, enqueue_crawl
    from workers.scheduler import reconcile_once, run_scheduler, scheduler_tick
    from workers.services import Services

    svc = Services(settings)
    publisher = CeleryPublisher(app)
    if args.once:
        due = scheduler_tick(svc, lambda url: enqueue_crawl(app, url), args.tick, "once")
        report = reconcile_once(svc, publisher, "once")
        recovered = len(report.resent) if report else 0
        from workers.events.relay import relay_batch, relay_for

        outbox, writer, _ = relay_for(svc, "once")
        relayed = relay_batch(outbox, writer, settings.event_source).sent
        print(
            f"enqueued {due or 0} due feed(s); recovered {recovered} stranded article(s); "
            f"relayed {relayed} event(s)"
        )
        return 0
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_scheduler(svc, lambda url: enqueue_crawl(app, url), publisher, args.tick, stop)
    return 0
