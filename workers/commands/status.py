"""`newsflow status`: queues, workers, feeds, the scheduler and per-stage rates and latencies."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from workers.settings import Settings

if TYPE_CHECKING:
    from workers.observe import StatusReport


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "status",
        help="queues, workers, feeds, scheduler, stage rates and latencies",
        description="Show per queue the waiting messages, the oldest one's age, messages in "
        "flight and the workers consuming it; the scheduler's last tick; feed health; "
        "articles by status and stranded articles; and per stage, over the last --minutes, "
        "the outcomes, events per minute and duration and queue-wait percentiles. A part "
        "whose Redis or database is down is reported as such, the rest is still shown.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--minutes",
        type=float,
        default=5.0,
        help="window for rates and percentiles, in minutes (default 5)",
    )
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="redraw every SECONDS (default 2) until Ctrl-C; with --json, one JSON line each",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.observe import status_report
    from workers.services import Services

    svc = Services(settings)
    window_s = max(1.0, args.minutes * 60)
    try:
        while True:
            report = status_report(svc, window_s)
            if args.json:
                indent = None if args.watch else 2
                print(json.dumps(report.to_dict(), indent=indent), flush=True)
            else:
                if args.watch:
                    sys.stdout.write("\x1b[H\x1b[2J")  # home, clear: redraw in place
                render(report, sys.stdout)
                sys.stdout.flush()
            if not args.watch:
                return 0
            time.sleep(max(0.2, args.watch))
    except KeyboardInterrupt:
        return 0
    finally:
        svc.close()


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 10_000 else f"{value:.0f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render(report: StatusReport, out: TextIO) -> None:
    data: dict[str, Any] = report.to_dict()
    w = out.write
    minutes = report.window_s / 60
    for part, error in sorted(report.errors.items()):
        w(f"!! {part} unavailable: {error}\n")
    tick = data["scheduler"]
    if tick["last_tick"] is None:
        w("scheduler:  never ticked (start `newsflow scheduler`)\n")
    else:
        stale = "   STALE: is a scheduler running?" if tick["age_s"] > 60 else ""
        w(f"scheduler:  last tick {tick['age_s']:.0f} s ago{stale}\n")
    w(f"deferred:   {report.deferred} (retries and polite waits, due later)\n")
    if report.queues:
        # kombu's unacked hash is empty unless ack emulation is on (newsflow turns it off):
        # the column appears only when it has something to say.
        unacked = any(report.unacked_by_queue.values())
        w(f"\n{'queue':<10} {'waiting':>8} {'oldest':>8} ")
        w(f"{'in flight':>9} " if unacked else "")
        w(f"{'workers':>8} {'procs':>6} {'hosts':>6}\n")
        for queue, waiting in report.queues.items():
            workers = report.workers.get(queue, {})
            n_workers = workers.get("workers", 0)
            warn = "  NO WORKER" if waiting and not n_workers else ""
            w(f"{queue:<10} {waiting:>8} {_age(report.oldest_age_s.get(queue)):>8} ")
            w(f"{report.unacked_by_queue.get(queue, 0):>9} " if unacked else "")
            w(f"{n_workers:>8} {workers.get('processes', 0):>6} {workers.get('hosts', 0):>6}")
            w(f"{warn}\n")
    if report.stages:
        head = f"last {minutes:g} min"
        w(f"\n{head:<12} {'runs/min':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} ")
        w(f"{'wait p50':>9} {'wait p95':>9}  outcomes\n")
        for stage, info in sorted(report.stages.items()):
            d, q = info["duration_ms"], info["queue_wait_ms"]
            outcomes = "  ".join(f"{k}={v}" for k, v in sorted(info["outcomes"].items()))
            w(f"{stage:<12} {info['runs_per_minute']:>8.1f} {_ms(d['p50']):>7} ")
            w(f"{_ms(d['p95']):>7} {_ms(d['p99']):>7} {_ms(q['p50']):>9} {_ms(q['p95']):>9}")
            w(f"  {outcomes}\n")
    elif "database" not in report.errors:
        w(f"\nno stage events in the last {minutes:g} min\n")
    w("\n")
    if report.articles or "database" not in report.errors:
        w(
            "articles:   "
            + ("  ".join(f"{s}={n}" for s, n in sorted(report.articles.items())) or "none")
            + "\n"
        )
    if report.stranded:
        w(
            "STRANDED:   "
            + "  ".join(
                f"{status}={int(v['count'])} (oldest overdue {v['oldest_overdue_s']:.0f} s)"
                for status, v in sorted(report.stranded.items())
            )
            + "   (the scheduler's reconciler resends them; `newsflow replay --stuck` now)\n"
        )
    elif "stranded" not in report.errors:
        w("stranded:   none\n")
    if report.recovered:
        w(
            f"recovered:  (last {minutes:g} min) "
            + "  ".join(f"{k}={v}" for k, v in sorted(report.recovered.items()))
            + "\n"
        )
    events = report.events
    if events:
        w(
            f"events:     stream {events['stream']}: {events['length']} entries, "
            f"{events.get('relayed', 0)} relayed, {events['undelivered']} not yet relayed\n"
        )
    if "webhook" in events:
        hook = events["webhook"]
        w(
            f"webhook:    {hook['delivered']} delivered, {hook['failures']} failed, "
            f"{hook['pending']} pending"
            + (f" (last error: {hook['last_error']})" if hook["failures"] else "")
            + "\n"
        )
    if report.labels:
        w("labels:     " + "  ".join(f"{k}={v}" for k, v in sorted(report.labels.items())) + "\n")
    feeds = report.feeds
    if feeds:
        w(
            f"feeds:      {feeds['total']} ({feeds['enabled']} enabled, {feeds['failing']} "
            f"failing, {feeds['overdue']} overdue, {feeds['disabled']} disabled)\n"
        )
        for feed in feeds["troubled"]:
            state = (
                "disabled"
                if not feed["enabled"]
                else f"{feed['consecutive_failures']} failures"
                if feed["consecutive_failures"]
                else "overdue"
            )
            w(f"  {state:<12} {feed['url']}  {feed['reason'] or ''}\n")
    crawl = report.crawl
    if crawl:
        w(
            "crawls:     (total) "
            + "  ".join(
                f"{k.removeprefix('polls:')}={v}"
                for k, v in crawl.items()
                if k.startswith("polls:")
            )
            + f"  entries found={crawl['entries_found']} new={crawl['entries_new']}\n"
        )
