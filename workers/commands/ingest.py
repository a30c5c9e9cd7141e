"""`newsflow ingest`: put URLs or a feed on the queues."""

from __future__ import annotations

import argparse
import json

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="enqueue article URLs or a feed",
        description="Enqueue article URLs (fetched through every stage) or a feed/sitemap "
        "(crawled on the crawl queue; its new entries are enqueued). URLs seen within the "
        "seen-set window are skipped unless --force.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="article URLs")
    p.add_argument("--feed", action="append", default=[], metavar="URL", help="a feed to crawl")
    p.add_argument("--force", action="store_true", help="enqueue URLs even if recently seen")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.queueing import CeleryPublisher, enqueue_crawl
    from workers.services import Services
    from workers.sources import ingest_urls

    if not args.urls and not args.feed:
        print("nothing to ingest: give article URLs and/or --feed URL")
        return 2
    svc = Services(settings)
    report = ingest_urls(
        args.urls,
        "cli",
        svc,
        CeleryPublisher.for_settings(settings),
        respect_seen=not args.force,
    )
    if args.feed:
        from workers.app import create_app

        app = create_app(settings)
        for feed in args.feed:
            enqueue_crawl(app, feed)
    print(
        json.dumps(
            {
                "queued": report.queued,
                "already_seen": report.already_seen,
                "invalid": report.invalid,
                "feeds_queued": args.feed,
            }
        )
    )
    return 0
