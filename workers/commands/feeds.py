"""`newsflow feeds`: the feeds the scheduler polls, as data (config/feeds.yaml) and state."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workers.feedspec import FEED_KINDS, FeedSpec
from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "feeds",
        help="add, list, remove or sync polled feeds",
        description="Manage the feeds the scheduler polls. `sync` loads a feeds YAML file "
        "(see config/feeds.yaml) into the database; `list` shows each feed's polling state.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add or update one feed")
    add.add_argument("url")
    add.add_argument("--kind", choices=FEED_KINDS, default="rss")
    add.add_argument("--interval", type=int, default=900, help="seconds between polls")
    add.add_argument("--section", default=None, help="section hint for its articles")
    add.add_argument("--tag", action="append", default=[], help="tag (repeatable)")
    add.add_argument("--disabled", action="store_true")
    lst = actions.add_parser("list", help="list feeds with their polling state")
    lst.add_argument("--json", action="store_true")
    rm = actions.add_parser("remove", help="remove a feed")
    rm.add_argument("url")
    sync = actions.add_parser("sync", help="load a feeds YAML file into the database")
    sync.add_argument("path", nargs="?", default="config/feeds.yaml")
    sync.add_argument("--prune", action="store_true", help="remove feeds not in the file")
    p.set_defaults(func=run)


def load_feeds_file(path: Path) -> list[FeedSpec]:
    """Parse a feeds YAML file: `feeds: [{url, kind, interval, section?, tags?, enabled?}]`."""
    import yaml

    from workers.fetching.urls import canonicalize_url

    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("feeds", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SystemExit(f"{path}: expected a mapping with a 'feeds' list")
    specs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "url" not in entry:
            raise SystemExit(f"{path}: feed #{i + 1} needs at least a url")
        try:
            specs.append(
                FeedSpec(
                    url=canonicalize_url(str(entry["url"])),
                    kind=str(entry.get("kind", "rss")),
                    interval_s=int(entry.get("interval", 900)),
                    section=entry.get("section"),
                    tags=tuple(str(t) for t in entry.get("tags", []) or []),
                    enabled=bool(entry.get("enabled", True)),
                )
            )
        except ValueError as exc:
            raise SystemExit(f"{path}: {exc}") from exc
    return specs


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.fetching.urls import canonicalize_url
    from workers.services import Services

    feeds = Services(settings).feeds
    if args.action == "add":
        feeds.upsert(
            FeedSpec(
                url=canonicalize_url(args.url),
                kind=args.kind,
                interval_s=args.interval,
                section=args.section,
                tags=tuple(args.tag),
                enabled=not args.disabled,
            )
        )
        print(f"added {args.url}")
    elif args.action == "remove":
        removed = feeds.remove(canonicalize_url(args.url))
        print(f"removed {removed} feed(s)")
        return 0 if removed else 1
    elif args.action == "sync":
        upserted, removed = feeds.sync(load_feeds_file(Path(args.path)), args.prune)
        print(f"synced {upserted} feed(s), removed {removed}")
    else:
        states = feeds.all()
        if args.json:
            for s in states:
                print(json.dumps(asdict(s), default=str))
            return 0
        print(f"{'feed':<50} {'kind':<12} {'every':>6} {'fails':>5} {'next due (UTC)':<20} state")
        for s in states:
            state = "enabled" if s.enabled else f"DISABLED: {s.disabled_reason}"
            due = s.next_due_at.strftime("%Y-%m-%d %H:%M:%S")
            print(
                f"{s.url[:50]:<50} {s.kind:<12} {s.current_interval_s:>5}s "
                f"{s.consecutive_failures:>5} {due:<20} {state}"
            )
    return 0
