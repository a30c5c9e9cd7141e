"""Reading the event stream as a consumer does (`newsflow events tail`): Redis and the envelope's
names only, so the command starts without the store or the logging stack."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from workers.events.envelope import EVENT_TYPES, TYPE_PREFIX

# XREAD blocks at most this long per call, so a stop request is noticed within it.
BLOCK_MS = 1000
READ_COUNT = 100
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def event_types(names: Iterable[str]) -> frozenset[str]:
    """Full CloudEvents types from 'stored' or 'newsflow.article.stored'; ValueError if unknown."""
    types = set()
    for name in names:
        full = name if name.startswith(TYPE_PREFIX) else TYPE_PREFIX + name
        if full not in EVENT_TYPES:
            known = ", ".join(t.removeprefix(TYPE_PREFIX) for t in EVENT_TYPES)
            raise ValueError(f"unknown event type {name!r}; types are {known}")
        types.add(full)
    return frozenset(types)


def follow(
    client: redis.Redis,
    stream: str,
    start: str = "$",
    types: frozenset[str] = frozenset(),
    keep_following: bool = True,
    stop: threading.Event | None = None,
) -> Iterator[tuple[str, str]]:
    """(stream entry id, envelope JSON) of each entry after `start` ('$': only new ones, '0':
    from the oldest kept), of `types` (all when empty). Blocks for new entries while
    `keep_following`; otherwise ends at the last entry there is now."""
    last = start
    if last == "$":
        # Resolve "now" once: a later '$' would skip entries added between two reads.
        newest: Any = client.xrevrange(stream, count=1)
        last = newest[0][0].decode() if newest else "0-0"
    while stop is None or not stop.is_set():
        reply: Any = client.xread(
            {stream: last}, count=READ_COUNT, block=BLOCK_MS if keep_following else None
        )
        if not reply:
            if keep_following:
                continue
            return
        for entry_id, fields in reply[0][1]:
            last = entry_id.decode()
            if types and fields.get(b"type", b"").decode() not in types:
                continue
            yield last, fields[b"event"].decode()


def parse_since(raw: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no offset) or an age such as 30m, 2h, 1d."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(raw.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw!r} is neither an ISO 8601 time nor an age like 2h") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
