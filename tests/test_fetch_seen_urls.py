"""RedisSeenUrls: a URL is claimed once per window, however many feeds list it."""

from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.waiting import wait_until
from workers.adapters.seen_urls import RedisSeenUrls
from workers.discovery import discover
from workers.errors import InfrastructureError

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>
<item><title>Story</title><link>https://news.example.com/2025/story?utm_source=rss</link></item>
<item><title>Other</title><link>https://news.example.com/2025/other</link></item>
</channel></rss>"""
ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>B</title><id>urn:b</id><updated>2025-06-01T00:00:00Z</updated>
<entry><title>Story</title><id>urn:1</id><updated>2025-06-01T00:00:00Z</updated>
<link href="https://NEWS.example.com:443/2025/story#comments"/></entry></feed>"""
SITEMAP = b"""<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://news.example.com/2025/story?fbclid=abc</loc></url></urlset>"""


def test_same_url_in_three_feeds_is_claimed_once(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    seen = RedisSeenUrls(redis_client, key_prefix, window_seconds=3600)
    sources = [
        (RSS, "application/rss+xml", "https://a.example/feed"),
        (ATOM, "application/atom+xml", "https://b.example/atom"),
        (SITEMAP, "application/xml", "https://news.example.com/sitemap.xml"),
    ]
    claimed = [
        entry.url
        for body, ctype, base in sources
        for entry in discover(body, ctype, base)
        if seen.claim(entry.url)
    ]
    assert claimed == ["https://news.example.com/2025/story", "https://news.example.com/2025/other"]


def test_claim_is_atomic_across_clients(
    redis_client: redis.Redis, redis_url: str, key_prefix: str
) -> None:
    other_client = redis.Redis.from_url(redis_url)
    try:
        first = RedisSeenUrls(redis_client, key_prefix, 3600)
        second = RedisSeenUrls(other_client, key_prefix, 3600)
        results = [first.claim("https://e.com/a"), second.claim("https://e.com/a")]
    finally:
        other_client.close()
    assert results == [True, False]


def test_every_claim_expires_after_the_window(redis_client: redis.Redis, key_prefix: str) -> None:
    seen = RedisSeenUrls(redis_client, key_prefix, window_seconds=1)
    assert seen.claim("https://e.com/a")
    assert seen.seen("https://e.com/a")
    keys = list(redis_client.scan_iter(match=f"{key_prefix}:seen:*"))
    assert len(keys) == 1
    assert 0 < redis_client.pttl(keys[0]) <= 1000
    assert wait_until(lambda: not seen.seen("https://e.com/a"))
    assert seen.claim("https://e.com/a")


def test_forget_releases_a_claim(redis_client: redis.Redis, key_prefix: str) -> None:
    seen = RedisSeenUrls(redis_client, key_prefix, 3600)
    seen.claim("https://e.com/a")
    seen.forget("https://e.com/a")
    assert seen.claim("https://e.com/a")


def test_unreachable_redis_is_an_infrastructure_error_not_the_articles() -> None:
    # Nothing listens on port 1; no client-side retries, so the failure is immediate.
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    with pytest.raises(InfrastructureError) as err:
        RedisSeenUrls(dead, "nftest:dead", 60).claim("https://e.com/a")
    assert err.value.reason == "redis_unavailable"


def test_many_urls_are_checked_and_claimed_in_one_round_trip_each(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    seen = RedisSeenUrls(redis_client, key_prefix, window_seconds=3600)
    seen.claim("https://e.com/old")
    urls = ["https://e.com/old", "https://e.com/new1", "https://e.com/new2"]
    assert seen.unseen(urls) == ["https://e.com/new1", "https://e.com/new2"]
    assert seen.claim_many(urls) == [False, True, True]
    assert seen.unseen(urls) == []
