"""The outbox relay: terminal event rows from the store to the Redis Stream, in order.

`newsflow scheduler` runs `run_relay` in a thread of its own. Every pass, the scheduler holding
the relay lock (one at a time across machines; another takes over within `LOCK_TTL_S` of its
death) reads up to `BATCH` settled event rows after the cursor, XADDs one CloudEvents entry per
terminal row (one pipelined round trip, trimmed by NEWSFLOW_EVENTS_MAXLEN and
NEWSFLOW_EVENTS_MAX_AGE) and only then moves the cursor, in the database. A crash between the
two sends the batch again, with the same event ids (consumers dedupe by id): at least once, never
lost. The cursor moves by compare-and-set, so two relays acting at once (a lock lost to a long
pause) only repeat entries, never rewind or skip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
import structlog

from workers.events.envelope import build_envelope, stream_fields
from workers.settings import Settings
from workers.store.outbox import EventOutbox, Position

if TYPE_CHECKING:
    from workers.services import Services

log = structlog.get_logger("newsflow.events")

# Rows read per pass: one XADD pipeline of 500 entries is ~0.5 MB and a few milliseconds; a
# backlog (the relay was down) drains at thousands of events per second.
BATCH = 500
# An idle relay looks again this often: an event reaches consumers within about half a second of
# the transaction that ended its article.
POLL_S = 0.5
ERROR_PAUSE_S = 2.0
# The relay lock: renewed every pass, so another scheduler takes over within this of a death.
LOCK_TTL_S = 10.0

# Acquire the lock, or renew it when this owner holds it, in one step.
_HOLD = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class StreamWriter:
    """XADDs envelopes to the event stream, trimming it as it goes."""

    def __init__(self, client: redis.Redis, stream: str, maxlen: int, max_age_s: int) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen
        self.max_age_s = max_age_s

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> StreamWriter:
        return cls(client, settings.event_stream, settings.events_maxlen, settings.events_max_age)

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        """One entry per envelope, in order, in one round trip."""
        if not envelopes:
            return
        pipe = self.client.pipeline(transaction=False)
        for envelope in envelopes:
            pipe.xadd(
                self.stream,
                stream_fields(envelope),  # type: ignore[arg-type]
                maxlen=self.maxlen or None,
                approximate=True,
            )
        if self.max_age_s:
            # Stream ids start with the entry's millisecond time: MINID drops older entries.
            oldest_ms = int((time.time() - self.max_age_s) * 1000)
            pipe.xtrim(self.stream, minid=f"{oldest_ms}-0", approximate=False)
        pipe.execute()


@dataclass(frozen=True, slots=True)
class RelayReport:
    sent: int  # entries added to the stream
    position: Position  # the cursor afterwards
    more: bool  # a full batch was read: more rows may be waiting now


def relay_batch(
    outbox: EventOutbox, writer: StreamWriter, source: str, limit: int = BATCH
) -> RelayReport:
    """Send the terminal events after the cursor (up to `limit` rows), then move the cursor."""
    start = outbox.position()
    batch = outbox.read_after(start, limit)
    envelopes = [build_envelope(event, source) for event in batch.events]
    writer.publish(envelopes)
    position = start
    if batch.last != start:
        if outbox.advance(start, batch.last):
            position = batch.last
        else:
            log.warning("event_cursor_moved_elsewhere", sent=len(envelopes))
    if envelopes:
        writer.client.hincrby(f"{writer.stream}:stats", "relayed", len(envelopes))
        log.debug("events_relayed", sent=len(envelopes), cursor=position.event_id)
    return RelayReport(len(envelopes), position, batch.scanned >= limit)


class RelayLock:
    """One relay acts at a time across every scheduler (a Redis lock, renewed every pass)."""

    def __init__(self, client: redis.Redis, key: str, owner: str, ttl_s: float = LOCK_TTL_S):
        self.key = key
        self.owner = owner
        self.ttl_ms = int(ttl_s * 1000)
        self._hold = client.register_script(_HOLD)

    def hold(self) -> bool:
        return bool(self._hold(keys=[self.key], args=[self.owner, self.ttl_ms]))


def run_relay(
    outbox: EventOutbox,
    writer: StreamWriter,
    lock: RelayLock,
    source: str,
    stop: threading.Event,
    poll_s: float = POLL_S,
) -> None:
    """Relay events until `stop` is set, while this process holds the relay lock."""
    log.debug("event_relay_started", stream=writer.stream, owner=lock.owner)
    while not stop.is_set():
        try:
            if not lock.hold():
                stop.wait(poll_s)
                continue
            report = relay_batch(outbox, writer, source)
        except Exception as exc:  # the database or Redis away: the cursor waits, nothing lost
            log.warning("event_relay_error", error=repr(exc)[:300])
            stop.wait(ERROR_PAUSE_S)
            continue
        if not report.more:
            stop.wait(poll_s)


def relay_for(svc: Services, owner: str) -> tuple[EventOutbox, StreamWriter, RelayLock]:
    """The relay's parts for a `workers.services.Services` (opens the store)."""
    writer = StreamWriter.from_settings(svc.redis, svc.settings)
    lock = RelayLock(svc.redis, svc.key("events", "relay"), owner)
    return EventOutbox(svc.store.engine), writer, lock


def run_relay_for(svc: Services, owner: str, stop: threading.Event) -> None:
    """`run_relay` with `svc`'s store and Redis, waiting for them if they are away at start."""
    while not stop.is_set():
        try:
            parts = relay_for(svc, owner)
        except Exception as exc:
            log.warning("event_relay_error", error=repr(exc)[:300])
            stop.wait(ERROR_PAUSE_S)
            continue
        run_relay(*parts, svc.settings.event_source, stop)


def replay_since(outbox: EventOutbox, writer: StreamWriter, source: str, since: datetime) -> int:
    """Send every terminal event since `since` to the stream again, with its own id (consumers
    that saw it skip it). The relay's cursor does not move. Returns how many were sent."""
    sent = 0
    for batch in outbox.terminal_since(since):
        writer.publish([build_envelope(event, source) for event in batch])
        sent += len(batch)
    return sent
