"""The URL seen-set in Redis: a URL is claimed once per window, however many feeds list it.

One key per URL (a 128-bit hash of the canonical URL) set with `SET NX EX`: the claim is atomic
across every worker, and memory is bounded because each key expires after the window: at roughly
90 bytes per key, a million new URLs a day with the 7-day window holds ~630 MB at most. Shorten
the window to trade memory for the occasional re-fetch of an old URL a feed still lists.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis

from workers.errors import InfrastructureError

# A week: feeds keep items for days (most RSS feeds list the last 10-100 items, i.e. 1-7 days),
# so anything older that a feed still lists is re-claimed at most once a week.
DEFAULT_WINDOW_SECONDS = 7 * 86_400


class RedisSeenUrls:
    """Claims canonical URLs for fetching; `claim` is True for the first caller in the window."""

    def __init__(
        self, client: Any, key_prefix: str, window_seconds: int = DEFAULT_WINDOW_SECONDS
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._client = client
        self._prefix = key_prefix
        self.window_seconds = window_seconds

    def claim(self, url: str) -> bool:
        """True when nobody claimed `url` within the window (and now we have). Pass canonical
        URLs (workers.fetching.urls.canonicalize_url): the set compares exact strings."""
        try:
            return bool(self._client.set(self._key(url), b"1", nx=True, ex=self.window_seconds))
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"seen-set: {exc}") from exc

    def claim_many(self, urls: list[str]) -> list[bool]:
        """`claim` for many URLs in one round trip: True where this call claimed the URL."""
        if not urls:
            return []
        try:
            pipe = self._client.pipeline(transaction=False)
            for url in urls:
                pipe.set(self._key(url), b"1", nx=True, ex=self.window_seconds)
            return [bool(ok) for ok in pipe.execute()]
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"seen-set: {exc}") from exc

    def unseen(self, urls: list[str]) -> list[str]:
        """The URLs of `urls` nobody claimed within the window (read-only, one round trip)."""
        if not urls:
            return []
        try:
            pipe = self._client.pipeline(transaction=False)
            for url in urls:
                pipe.exists(self._key(url))
            found = pipe.execute()
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"seen-set: {exc}") from exc
        return [url for url, hit in zip(urls, found, strict=True) if not hit]

    def seen(self, url: str) -> bool:
        """True when `url` was claimed within the window (read-only)."""
        return bool(self._client.exists(self._key(url)))

    def forget(self, url: str) -> None:
        """Release a claim (e.g. an operator replaying a URL on purpose)."""
        self._client.delete(self._key(url))

    def _key(self, url: str) -> str:
        digest = hashlib.blake2b(url.encode("utf-8"), digest_size=16).hexdigest()
        return f"{self._prefix}:seen:{digest}"
