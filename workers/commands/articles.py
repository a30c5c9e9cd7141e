"""`newsflow articles`: list stored articles, or show one, as a table or JSON."""

from __future__ import annotations

import argparse
import json

from workers.settings import Settings

STATUSES = (
    "queued",
    "fetched",
    "cleaned",
    "deduplicated",
    "stored",
    "duplicate",
    "skipped",
    "failed",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "articles",
        help="list or show articles",
        description="List the most recently updated articles (optionally by status), or show "
        "one article in full with --show ID.",
    )
    p.add_argument("--status", choices=STATUSES, help="only articles with this status")
    p.add_argument("--limit", type=int, default=20, help="how many to list (default 20)")
    p.add_argument("--show", metavar="ID|URL", help="show one article in full")
    p.add_argument("--json", action="store_true", help="JSON (one object per line) output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.services import Services

    store = Services(settings).store
    if args.show:
        found = store.find(args.show)
        if not found:
            print(f"no article matches {args.show!r}")
            return 1
        for article in found:
            data = article.to_dict()
            if args.json:
                print(json.dumps(data))
                continue
            for key, value in data.items():
                if key != "text":
                    print(f"{key:>14}: {value}")
            print(f"\n{article.text or ''}\n")
        return 0
    rows = store.list_articles(status=args.status, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(row.to_dict()))
        return 0
    print(f"{'id':<32}  {'status':<12} {'label':<13} {'words':>5}  title / reason")
    for row in rows:
        label = row.label or ""
        summary = row.title or row.status_reason or row.url
        print(
            f"{row.id:<32}  {row.status:<12} {label:<13} {row.word_count or '':>5}  {summary[:70]}"
        )
    return 0
