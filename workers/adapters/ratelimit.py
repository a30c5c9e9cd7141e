"""A per-host request rate shared by every worker on every machine (GCRA in Redis).

Each host has one Redis key holding its "theoretical arrival time" (TAT): the earliest moment the
next request may start. A Lua script reads Redis's own clock (so worker clocks need not agree),
reserves the next slot atomically and returns how long the caller must wait for it. A short wait
is slept in place. A longer one is never slept and never a failure: the caller gets
`Deferred(not_before=slot)` and gives the thread back to other hosts' articles; with
`reserve=True` the slot is reserved for it (a `SlotReservation` it presents when it comes back),
so a backlog of one host is spread one slot apart instead of stampeding at the next free one.
Burst is one request: slots are spaced exactly 1/rate apart, which is what "n requests per second
to one host" means to the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from workers.errors import Deferred, InfrastructureError
from workers.models import SlotReservation
from workers.settings import Settings

# Microseconds throughout: Redis TIME gives them and they stay exact in Lua's doubles (< 2^53).
# One key per host holds two times, "slot_line:next_start". The slot line is the GCRA
# "theoretical arrival time": a request takes the next slot, or, deferred, reserves one ahead.
# next_start is when the next request may actually start: a reserved delivery that comes back
# late must not crowd the one after it, so every request, reserved or not, starts at least one
# interval after the previous start. One key, not two: an acquisition is one GET and one SET
# inside the script (benchmarks/pipeline.py counts Redis commands per article).
# ARGV: interval, longest wait a caller may sleep, reserve when busy (0/1), the reserved slot
# presented (0: none). Returns {code, wait, now}: 1 go after `wait`; 0 busy, come back after
# `wait`; 2 busy, a slot `wait` from now is reserved for you.
_TIMES = """
local function read_times(key)
  local raw = redis.call('GET', key)
  if not raw then return 0, 0 end
  local line, start = string.match(raw, '^(%d+):(%d+)$')
  if line then return tonumber(line), tonumber(start) end
  return tonumber(raw) or 0, 0  -- a value written before both times shared the key
end
local function write_times(key, line, start, now)
  local last = math.max(line, start)
  redis.call('SET', key, string.format('%d:%d', line, start),
             'PX', math.max(1, math.ceil((last - now) / 1000)) + 1000)
end
"""
_ACQUIRE = (
    _TIMES
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local reserve = tonumber(ARGV[3])
local reserved_at = tonumber(ARGV[4])
local tat, next_start = read_times(KEYS[1])
local changed = false
local function done(code, wait)
  if changed then write_times(KEYS[1], tat, next_start, now) end
  return {code, wait, now}
end
local function busy(from)
  local at = tat
  if at < from then at = from end
  if reserve == 0 then return done(0, at - now) end
  tat, changed = at + interval, true
  return done(2, at - now)
end
local start = now
if reserved_at > 0 then
  if reserved_at > start then start = reserved_at end
else
  if tat > start then start = tat end
  if start - now > max_wait then return busy(now) end
  tat, changed = start + interval, true
end
if next_start > start then start = next_start end
if start - now > max_wait then return busy(start) end
next_start, changed = start + interval, true
return done(1, start - now)
"""
)
# Push the host's next slot and next start to at least now + delay (a 429/503 Retry-After),
# never earlier: slots reserved before are held back too.
_PENALISE = (
    _TIMES
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local tat, next_start = read_times(KEYS[1])
write_times(KEYS[1], math.max(tat, until_), math.max(next_start, until_), now)
return 1
"""
)

# One request per second per host is the conventional polite default for crawlers (it is what
# Scrapy's AutoThrottle and most crawl-delay values in robots.txt converge on).
DEFAULT_RATE = 1.0
# A fetch thread sleeps at most this long for its slot; a longer wait defers the article. Two
# seconds keeps a busy host to a few of a worker's 16 threads (at the default 1 request/s: the
# requests now, in 1 s and in 2 s), so other hosts' articles are not stuck behind it, while a
# deferral (a round trip through Redis and the queue) is only paid when the wait is long.
DEFAULT_MAX_WAIT = 2.0


def parse_host_rates(spec: str) -> tuple[float, dict[str, float]]:
    """Parse "*=1,example.com=0.5,foo.org=2" into (default rate, {host: rate}).

    Rates are requests per second and must be positive; a host applies to its sub-domains too.
    Raises ValueError with the offending item on bad input (settings are checked at start-up).
    """
    default = DEFAULT_RATE
    rates: dict[str, float] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, value = item.partition("=")
        host = host.strip().lower().rstrip(".")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not host or not rate > 0:
            raise ValueError(f"bad host rate {item!r}: expected host=requests_per_second (> 0)")
        if host == "*":
            default = rate
        else:
            rates[host] = rate
    return default, rates


class HostRateLimiter:
    """Blocks until this host's next shared slot, or defers the caller when it is far off."""

    def __init__(
        self,
        client: Any,
        key_prefix: str,
        default_rate: float = DEFAULT_RATE,
        host_rates: Mapping[str, float] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self.default_rate = default_rate
        self.host_rates = dict(host_rates or {})
        self.max_wait = max_wait
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._penalise = client.register_script(_PENALISE)

    @classmethod
    def from_settings(cls, client: Any, settings: Settings) -> HostRateLimiter:
        default, rates = parse_host_rates(settings.fetch_host_rates)
        return cls(client, settings.key_prefix, default, rates)

    def rate_for(self, host: str) -> float:
        """Requests per second for `host`: its override, else its closest parent's, else default."""
        labels = host.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            rate = self.host_rates.get(".".join(labels[i:]))
            if rate is not None:
                return rate
        return self.default_rate

    def acquire(
        self,
        host: str,
        min_interval: float = 0.0,
        max_wait: float | None = None,
        reserve: bool = False,
        reservation: SlotReservation | None = None,
    ) -> float:
        """Wait for the next slot of `host`; returns the seconds waited.

        `min_interval` (e.g. a robots.txt Crawl-delay) can only slow the host down further;
        `max_wait` (e.g. what is left of a page deadline) can only lower `self.max_wait`.
        A longer wait raises Deferred("host_busy", not_before=...): with `reserve`, the slot is
        reserved and carried by the error as a SlotReservation. A `reservation` for this host,
        presented when the caller comes back, is used instead of asking for a new slot. Either
        way a request starts at least one interval after the host's previous request started.
        """
        limit = self.max_wait if max_wait is None else max(0.0, min(self.max_wait, max_wait))
        interval = max(1.0 / self.rate_for(host), min_interval)
        reserved_us = 0
        if reservation is not None and reservation.host == host.lower():
            reserved_us = max(1, int(reservation.at * 1e6))
        try:
            code, wait_us, now_us = self._acquire(
                keys=self._keys(host),
                args=[int(interval * 1e6), int(limit * 1e6), 1 if reserve else 0, reserved_us],
            )
        except redis.RedisError as exc:  # no shared limit means no polite fetch: wait for Redis
            raise InfrastructureError("redis_unavailable", f"rate limiter: {exc}") from exc
        wait = int(wait_us) / 1e6
        if int(code) != 1:
            at = (int(now_us) + int(wait_us)) / 1e6
            held = SlotReservation(host.lower(), at) if int(code) == 2 else None
            raise Deferred("host_busy", at, f"{host} busy for {wait:.1f}s", reservation=held)
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalise(self, host: str, seconds: float) -> None:
        """Make every worker leave `host` alone for `seconds` (the server asked: Retry-After)."""
        try:
            self._penalise(keys=self._keys(host), args=[int(seconds * 1e6)])
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"rate limiter: {exc}") from exc

    def _keys(self, host: str) -> list[str]:
        # The braces make the host a Redis Cluster hash tag (kept from when a host had two keys).
        return [f"{self._prefix}:rate:{{{host.lower()}}}"]
