"""`newsflow dedup FILE.jsonl`: run the dedup stage over a file of texts, in order.

Each input line is `{"doc_id": ..., "text": ...}`; each output line is
`{"doc_id", "status": "new"|"duplicate", "duplicate_of"}`. It goes through the same code the
pipeline runs (`fingerprint_text` + `RedisDedupIndex.check_and_insert`) against the configured
Redis, so what it prints is what the service would decide. The doc id doubles as the URL key:
lines carry no URL, and distinct ids must not be taken for versions of one page.

The Redis client and the fingerprinting code are imported when the command runs, not when the
command line is built.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workers.commands.progress import on_terminal, progress

if TYPE_CHECKING:
    import redis

    from workers.settings import Settings

NAME = "dedup"
_DAY = 86_400


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="mark duplicates in a JSONL file of texts",
        description=(
            "Run the dedup stage over FILE ({'doc_id', 'text'} per line, '-' for stdin) in "
            "order against the configured Redis and print {'doc_id', 'status', 'duplicate_of'} "
            "per line."
        ),
    )
    parser.add_argument("file", help="JSONL input, or - for standard input")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--namespace",
        default=None,
        help="index under KEY_PREFIX:NAMESPACE instead of the service's own index",
    )
    where.add_argument(
        "--fresh",
        action="store_true",
        help="use a new empty index (a random namespace, deleted afterwards)",
    )
    parser.set_defaults(func=run, plain_logs=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from workers.adapters.dedup_index import RedisDedupIndex
    from workers.stages.dedup import fingerprint_text

    prefix = settings.key_prefix
    if args.fresh:
        prefix = f"{prefix}:run-{uuid.uuid4().hex[:12]}"
    elif args.namespace:
        prefix = f"{prefix}:{args.namespace}"
    client = redis.Redis.from_url(settings.redis_url)
    index = RedisDedupIndex(client, prefix, settings.dedup_window_days * _DAY)
    total = _count_lines(args.file) if on_terminal() else None
    try:
        with _open(args.file) as lines, progress("dedup", total=total, unit="doc") as bar:
            for number, line in enumerate(lines, start=1):
                bar.advance()
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                    doc_id, text = str(doc["doc_id"]), str(doc["text"])
                except (ValueError, KeyError, TypeError) as exc:
                    print(f"line {number}: not a {{doc_id, text}} object: {exc}", file=sys.stderr)
                    return 2
                verdict = index.check_and_insert(doc_id, doc_id, fingerprint_text(text))
                status = "duplicate" if verdict.is_duplicate else "new"
                out = {"doc_id": doc_id, "status": status, "duplicate_of": verdict.duplicate_of}
                sys.stdout.write(json.dumps(out) + "\n")
    finally:
        if args.fresh:
            _delete_index(client, prefix)
        client.close()
    return 0


def _count_lines(name: str) -> int | None:
    """Lines in the input file, for the time-left estimate (None for standard input)."""
    if name == "-":
        return None
    try:
        with Path(name).open("rb") as stream:
            data = b""
            count = 0
            while chunk := stream.read(1 << 20):
                count += chunk.count(b"\n")
                data = chunk
            return count + (1 if data and not data.endswith(b"\n") else 0)
    except OSError:
        return None


def _open(name: str) -> _Lines:
    return _Lines(sys.stdin if name == "-" else Path(name).open(encoding="utf-8"))


class _Lines:
    """A text source used as a context manager that never closes standard input."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __enter__(self) -> Iterator[str]:
        return iter(self._stream)

    def __exit__(self, *exc: object) -> None:
        if self._stream is not sys.stdin:
            self._stream.close()


def _delete_index(client: redis.Redis, prefix: str) -> None:
    from workers.adapters.dedup_index import index_base

    pattern = index_base(prefix).replace("{", "\\{").replace("}", "\\}") + "*"
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)
