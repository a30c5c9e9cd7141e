"""`newsflow demo`: ingest the bundled sample news sites end to end, offline, and summarise."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from workers.processes import stop_processes
from workers.settings import Settings

if TYPE_CHECKING:
    from workers.demo.server import DemoSites
    from workers.services import Services


DEMO_DATABASE_URL = "sqlite:///newsflow-demo.db"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a bundled sample site",
        description="Serve two bundled sample news sites on 127.0.0.1, start stage workers, "
        "schedule their feeds, ingest everything through the queues and print a summary. "
        "Works offline; starts a local Redis if none answers (and stops it at the end). "
        "Uses its own SQLite file "
        f"({DEMO_DATABASE_URL} unless DATABASE_URL is set) and Redis key prefix.",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")
    p.add_argument("--log", default="newsflow-demo.log", help="where worker logs go (JSON lines)")
    p.set_defaults(func=run)


def cli_command() -> str:
    """How to call newsflow from here: plain `newsflow` when on PATH, else the venv's script."""
    script = Path(sys.executable).with_name("newsflow")
    if shutil.which("newsflow") == str(script) or not script.exists():
        return "newsflow"
    try:
        return os.path.relpath(script)
    except ValueError:
        return str(script)


def demo_settings(settings: Settings, sites: DemoSites) -> Settings:
    # The sample sites listen on 127.0.0.1 ports of their own: exactly those are allowed past
    # the SSRF guard, nothing else on this machine.
    site_hosts = [base.removeprefix("http://") for base in sites.bases.values()]
    return settings.with_overrides(
        database_url=os.environ.get("DATABASE_URL", DEMO_DATABASE_URL),
        key_prefix=f"{settings.key_prefix}-demo",
        allow_hosts=",".join(filter(None, [settings.allow_hosts, *site_hosts])),
        # The sample sites are ours, on this machine: no need to be as slow as with a stranger.
        fetch_host_rates=f"{settings.fetch_host_rates},127.0.0.1=50",
        log_format="json",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from workers.demo.local_redis import LocalRedisError, local_redis
    from workers.demo.server import serve_demo_sites

    try:
        with local_redis(settings.redis_url) as started_redis:
            if started_redis:
                print(f"redis: {started_redis}")
            sites = serve_demo_sites()
            try:
                status = ingest_demo_sites(
                    args, demo_settings(settings, sites), sites, started_redis is not None
                )
            finally:
                sites.stop()
    except LocalRedisError as exc:
        print(f"redis: {exc}", file=sys.stderr)
        return 1
    if started_redis:
        print("redis: stopped the redis-server the demo started")
    return status


def ingest_demo_sites(
    args: argparse.Namespace, settings: Settings, sites: DemoSites, own_redis: bool
) -> int:
    import redis

    from workers.app import app
    from workers.demo.server import DEMO_FEEDS
    from workers.demo.session import remove_sqlite_file, start_workers, wait_until_settled
    from workers.queueing import enqueue_crawl
    from workers.scheduler import scheduler_tick
    from workers.services import Services
    from workers.store.feeds import FeedSpec

    remove_sqlite_file(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.key_prefix}:*", count=1000):
        client.delete(key)

    svc = Services(settings)
    svc.store  # noqa: B018 - create the schema before workers race to
    feed_urls = [sites.url(path) for path, _kind in DEMO_FEEDS]
    print(f"serving sample sites at {', '.join(sites.bases.values())}")
    started = time.monotonic()
    with open(args.log, "ab") as log_file:
        children = start_workers(settings, log_file)
        try:
            print(f"started workers: {', '.join(children)} (logs: {args.log})")
            # The original publisher's feed first, the site that republishes a story second, as
            # it happens in the news: the copy is then the one marked duplicate.
            settled = True
            for url, (path, kind) in zip(feed_urls, DEMO_FEEDS, strict=True):
                svc.feeds.upsert(FeedSpec(url=url, kind=kind, interval_s=3600))
                print(f"scheduled feed {path}")
                scheduler_tick(svc, lambda feed: enqueue_crawl(app, feed), 0.1, "demo")
                remaining = args.timeout - (time.monotonic() - started)
                settled = settled and wait_until_settled(
                    svc.store, svc.feeds, [url], remaining, children
                )
        finally:
            stop_processes(children)
    elapsed = time.monotonic() - started
    relay_events(svc)
    events = int(svc.redis.xlen(settings.event_stream))
    print_summary(svc, elapsed, settled, own_redis, args.log, events)
    return 0 if settled else 1


def relay_events(svc: Services) -> int:
    """Relay what the demo's scheduler had not relayed yet when it was stopped (the last
    articles' ends); returns how many events that sent."""
    from workers.events.relay import relay_batch, relay_for

    outbox, writer, _ = relay_for(svc, "demo")
    sent = 0
    while True:
        report = relay_batch(outbox, writer, svc.settings.event_source)
        sent += report.sent
        if not report.more:
            return sent


def print_summary(
    svc: Services, elapsed: float, settled: bool, own_redis: bool, log: str, events: int = 0
) -> None:
    from workers.observe import timeline_rows

    store = svc.store
    counts = store.counts_by_status()
    total = sum(counts.values())
    print(
        f"\nnewsflow demo: {total} articles through fetch -> clean -> dedup -> classify "
        f"in {elapsed:.1f} s" + ("" if settled else " (TIMED OUT before all settled)")
    )
    stored = store.list_articles(status="stored", limit=1000)
    labels = Counter(a.label for a in stored)
    print(
        f"  stored     {len(stored):>3}  "
        + ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    )
    for a in stored:
        print(f"             {a.label or '':<13} {a.confidence or 0:.2f}  {a.title}")
    for a in store.list_articles(status="duplicate", limit=1000):
        original = store.get(a.duplicate_of) if a.duplicate_of else None
        of = original.url if original else a.duplicate_of
        print(f"  duplicate       {a.url}\n                  of {of}")
    for status in ("skipped", "failed"):
        for a in store.list_articles(status=status, limit=1000):
            print(f"  {status:<10}      {a.url}\n                  reason: {a.status_reason}")
    print(
        f"\nevents: {events} on the Redis Stream {svc.settings.event_stream}, one CloudEvents "
        "envelope per article end, for other services to subscribe to (docs/events.md)"
    )
    if stored:
        sample = stored[-1]
        print(f"\ntrace of one article ({sample.id}):")
        for row in timeline_rows(store.events(sample.id)):
            took = "" if row["duration_ms"] is None else f"{row['duration_ms']:.1f} ms"
            print(f"  +{row['t_ms']:>7.1f} ms  {row['event']:<22} {row['outcome']:<10} {took}")
        env = "" if os.environ.get("DATABASE_URL") else f"DATABASE_URL={DEMO_DATABASE_URL} "
        env += cli_command()
        prefix = f"NEWSFLOW_KEY_PREFIX={svc.settings.key_prefix} "
        print("\nlook next:")
        status_cmd = env.replace(cli_command(), prefix + cli_command())
        print(f"  {env} trace {sample.id}")
        print(f"  {env} articles --status stored")
        print(f"  {env} articles --show {sample.id}")
        tail = f"{status_cmd} events tail --from 0 --count {events}"
        if own_redis:
            # Queue depths and the event stream live in Redis, and the demo's own Redis stops
            # with it.
            print(f"  {status_cmd} status   (reads Redis: start one first, e.g. `make services`)")
            print(f"  {tail}   (the stream went with the demo's Redis; `make services`, rerun)")
        else:
            print(f"  {status_cmd} status")
            print(f"  {tail}   (follow new ones: drop --from and --count)")
        print(f"  worker logs (one JSON event per stage per article): {log}")
