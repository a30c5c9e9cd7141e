"""`newsflow events`: watch the article event stream, or send past events to it again."""

from __future__ import annotations

import argparse
import sys

from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "events",
        help="watch the article event stream, or replay past events",
        description="Each article that ends (stored, duplicate, skipped, failed) is one "
        "CloudEvents entry on the Redis Stream NEWSFLOW_EVENTS_STREAM (docs/events.md).",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    tail = actions.add_parser(
        "tail",
        help="print events as they arrive, one JSON envelope per line",
        description="Print the stream's events, one CloudEvents JSON envelope per line, and "
        "keep following (XREAD BLOCK) until interrupted or --count events were printed.",
    )
    tail.add_argument(
        "--from",
        dest="start",
        default="$",
        metavar="ID",
        help="stream entry id to start after: '$' only new events (default), '0' every kept one",
    )
    tail.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only this type (stored, duplicate, skipped, failed or the full "
        "newsflow.article.* name); repeat for several",
    )
    tail.add_argument("--count", type=int, default=None, metavar="N", help="stop after N events")
    tail.add_argument(
        "--no-follow", action="store_true", help="print the events there are now and exit"
    )
    tail.set_defaults(func=run_tail, plain_logs=True)
    replay = actions.add_parser(
        "replay",
        help="send the events since a time to the stream again",
        description="Send every article end recorded since --since to the stream again, each "
        "with its original event id (consumers dedupe by id): after Redis lost the stream, or "
        "for a new consumer. Reads the store's events table; the relay's position is kept.",
    )
    replay.add_argument(
        "--since", required=True, metavar="TIME", help="ISO 8601 time, or an age such as 2h, 1d"
    )
    replay.set_defaults(func=run_replay)


def run_tail(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from workers.events.stream import event_types, follow

    try:
        types = event_types(args.types)
    except ValueError as exc:
        print(f"newsflow events tail: {exc}", file=sys.stderr)
        return 2
    start = "0-0" if args.start in ("0", "start") else args.start
    client = redis.Redis.from_url(settings.redis_url)
    printed = 0
    try:
        if args.count is not None and args.count <= 0:
            return 0
        for _entry_id, envelope in follow(
            client, settings.event_stream, start, types, keep_following=not args.no_follow
        ):
            print(envelope, flush=True)
            printed += 1
            if args.count is not None and printed >= args.count:
                break
    except BrokenPipeError:  # `newsflow events tail | head`
        return 0
    finally:
        client.close()
    return 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from workers.events.relay import StreamWriter, replay_since
    from workers.events.stream import parse_since
    from workers.services import Services
    from workers.store.outbox import EventOutbox

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"newsflow events replay: {exc}", file=sys.stderr)
        return 2
    svc = Services(settings)
    try:
        writer = StreamWriter.from_settings(svc.redis, settings)
        sent = replay_since(EventOutbox(svc.store.engine), writer, settings.event_source, since)
    finally:
        svc.close()
    print(f"sent {sent} event(s) since {since.isoformat()} to {settings.event_stream}")
    return 0
