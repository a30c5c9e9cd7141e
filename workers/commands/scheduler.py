"""`newsflow scheduler`: the periodic tick that enqueues due feeds (safe to run several)."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from workers.app import app
from workers.queueing import enqueue_crawl
from workers.scheduler import run_scheduler, scheduler_tick
from workers.services import Services
from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "scheduler",
        help="enqueue due feeds on a schedule",
        description="Every --tick seconds, claim the feeds whose next poll is due and put them "
        "on the crawl queue. Several schedulers may run for availability; one acts per tick.",
    )
    p.add_argument("--tick", type=float, default=10.0, help="seconds between ticks (default 10)")
    p.add_argument("--once", action="store_true", help="run a single tick and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    svc = Services(settings)
    if args.once:
        due = scheduler_tick(svc, lambda url: enqueue_crawl(app, url), args.tick, "once")
        print(f"enqueued {due or 0} due feed(s)")
        return 0
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_scheduler(svc, lambda url: enqueue_crawl(app, url), args.tick, stop)
    return 0
