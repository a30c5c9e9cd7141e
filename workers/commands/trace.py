"""`newsflow trace`: one article's timeline through the stages, from its events."""

from __future__ import annotations

import argparse
import json

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "trace",
        help="an article's stage timeline",
        description="Print every stage event of an article (by id or URL) in order: event, "
        "outcome, duration, queue wait, attempt and worker. A URL fetched several times shows "
        "each article.",
    )
    p.add_argument("target", metavar="ID|URL", help="article id, URL or canonical URL")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.observe import timeline_rows
    from workers.services import Services

    store = Services(settings).store
    articles = store.find(args.target)
    if not articles:
        print(f"no article matches {args.target!r}")
        return 1
    for article in articles:
        rows = timeline_rows(store.events(article.id))
        if args.json:
            for row in rows:
                print(json.dumps(row))
            continue
        print(f"article {article.id}  {article.url}")
        print(
            f"  status: {article.status}"
            + (f" ({article.status_reason})" if article.status_reason else "")
        )
        if article.title:
            print(f"  title:  {article.title}")
        header = f"{'event':<22} {'outcome':<12} {'took ms':>8} {'wait ms':>8} {'try':>3}"
        print(f"  {'+ms':>8}  {header}  worker")
        for row in rows:
            took = "" if row["duration_ms"] is None else f"{row['duration_ms']:.1f}"
            wait = "" if row["queue_wait_ms"] is None else f"{row['queue_wait_ms']:.1f}"
            print(
                f"  {row['t_ms']:>8.1f}  {row['event']:<22} {row['outcome']:<12} {took:>8} "
                f"{wait:>8} {row['attempt']:>3}  {row['worker']}"
            )
            reason = row["detail"].get("reason")
            if reason:
                print(f"{'':>12}reason: {reason}")
    return 0
