"""robots.txt per host (RFC 9309), fetched once and cached in Redis for every worker.

Status handling follows RFC 9309 section 2.3.1: a 2xx body is parsed; 4xx means "no rules" (allow
all); 5xx or a network failure means "unreachable", which the RFC says must be treated as
disallow-all. Quarantining articles for a flapping server would lose them, so unreachable is
reported as TransientError (the article is retried later) and remembered for a short while so the
host is not hammered for robots.txt by every queued article.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
from protego import Protego

from workers.errors import InfrastructureError, TransientError

RobotsFetch = Callable[[str], tuple[int, bytes]]
"""Downloads a robots.txt URL: returns (HTTP status, body); raises TransientError on failure."""

# A day is the cache life Google documents for robots.txt and RFC 9309 recommends as the maximum.
ROBOTS_TTL = 86_400
# Five minutes before asking an unreachable (5xx / timeout) host again.
UNREACHABLE_TTL = 300
# RFC 9309 section 2.5: crawlers must parse at least 500 KiB; bytes beyond may be ignored.
ROBOTS_MAX_BYTES = 512_000
# Parsed rules are memoised in-process for a minute (parsing on every fetch costs ~0.1-1 ms and a
# Redis round-trip); a minute of staleness after robots.txt changes is harmless.
_LOCAL_TTL = 60.0
_LOCAL_MAX = 2048

_UNREACHABLE = b"unreachable"


class RobotsChecker:
    """Answers "may we fetch this URL?" and "how slowly?" from the host's robots.txt."""

    def __init__(
        self,
        client: Any,
        key_prefix: str,
        user_agent: str,
        ttl: int = ROBOTS_TTL,
        unreachable_ttl: int = UNREACHABLE_TTL,
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self.user_agent = user_agent
        self.ttl = ttl
        self.unreachable_ttl = unreachable_ttl
        self._local: OrderedDict[str, tuple[float, Protego | None]] = OrderedDict()
        self._lock = threading.Lock()

    def allowed(self, url: str, fetch: RobotsFetch) -> bool:
        """True when robots.txt lets our user agent fetch `url` (no rules means allowed)."""
        rules = self._rules(url, fetch)
        return True if rules is None else bool(rules.can_fetch(url, self.user_agent))

    def crawl_delay(self, url: str, fetch: RobotsFetch) -> float:
        """The host's Crawl-delay for our user agent in seconds (0 when none)."""
        rules = self._rules(url, fetch)
        delay = None if rules is None else rules.crawl_delay(self.user_agent)
        return float(delay) if delay else 0.0

    def sitemaps(self, url: str, fetch: RobotsFetch) -> list[str]:
        """Sitemap URLs the host lists in its robots.txt (a discovery starting point)."""
        rules = self._rules(url, fetch)
        return [] if rules is None else list(rules.sitemaps)

    def _rules(self, url: str, fetch: RobotsFetch) -> Protego | None:
        robots_url = robots_url_for(url)
        now = time.monotonic()
        with self._lock:
            hit = self._local.get(robots_url)
            if hit is not None and hit[0] > now:
                self._local.move_to_end(robots_url)
                return hit[1]
        try:
            body = self._cached_or_fetched(robots_url, fetch)
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"robots cache: {exc}") from exc
        rules = Protego.parse(body.decode("utf-8", errors="replace")) if body else None
        with self._lock:
            self._local[robots_url] = (now + _LOCAL_TTL, rules)
            while len(self._local) > _LOCAL_MAX:
                self._local.popitem(last=False)
        return rules

    def _cached_or_fetched(self, robots_url: str, fetch: RobotsFetch) -> bytes:
        """The robots.txt body (b"" for "no rules"), from Redis or freshly downloaded."""
        key = f"{self._prefix}:robots:{robots_url}"
        cached = self._client.get(key)
        if cached is not None:
            if cached == _UNREACHABLE:
                raise TransientError(
                    "robots_unreachable", robots_url, retry_after=_ttl_left(self._client, key)
                )
            return bytes(cached[1:])  # strip the one-byte marker that tells b"" from a miss
        try:
            status, body = fetch(robots_url)
        except TransientError:
            self._client.set(key, _UNREACHABLE, ex=self.unreachable_ttl)
            raise
        if status >= 500 or status == 429:
            self._client.set(key, _UNREACHABLE, ex=self.unreachable_ttl)
            raise TransientError("robots_unreachable", f"{robots_url}: HTTP {status}")
        body = body[:ROBOTS_MAX_BYTES] if 200 <= status < 300 else b""
        self._client.set(key, b"=" + body, ex=self.ttl)
        return body


def robots_url_for(url: str) -> str:
    """The robots.txt URL governing `url` (same scheme, host and port)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}/robots.txt"


def _ttl_left(client: Any, key: str) -> float | None:
    ttl = client.ttl(key)
    return float(ttl) if isinstance(ttl, int) and ttl > 0 else None
