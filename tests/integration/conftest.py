"""Fixtures for end-to-end runs: a private Redis database, a fresh SQLite file or PostgreSQL
database, the bundled demo sites on 127.0.0.1, and real `celery worker` processes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest
import redis

from tests.test_fetch_support import LocalServer, send, serve
from workers.demo.server import DEMO_FEEDS, DemoSites
from workers.pipeline import QUEUES
from workers.services import Services
from workers.settings import Settings
from workers.store.feeds import FeedSpec

# Integration runs own this Redis database (queues are not prefixed, so no other test uses it).
E2E_REDIS_DB = int(os.environ.get("NEWSFLOW_E2E_REDIS_DB", "10"))


E2E_PREFIX = "nfe2e"


def allow(*base_urls: str) -> str:
    """NEWSFLOW_ALLOW_HOSTS for the local test sites at `base_urls`: their host:port only."""
    return ",".join(urlsplit(url).netloc for url in base_urls)


def e2e_settings(
    redis_url: str, database_url: str, sites: Iterable[str] = (), **overrides: object
) -> Settings:
    """Settings for worker processes in a test: the local `sites` (base URLs) past the SSRF
    guard, and JSON logs. Everything else is the default a user gets; a test that changes a
    default says why where it does."""
    base: dict[str, object] = {
        "redis_url": redis_url,
        "database_url": database_url,
        "key_prefix": E2E_PREFIX,
        "allow_hosts": allow(*sites),
        "log_format": "json",
    }
    return Settings().with_overrides(**{**base, **overrides})


def register_demo_feeds(svc: Services, sites: DemoSites) -> list[str]:
    """Create the schema (before any process starts, so none races another to) and register
    the demo sites' feeds, polled hourly: the scheduler polls a new feed at once. Returns the
    feed URLs."""
    svc.store  # noqa: B018
    urls = [sites.url(path) for path, _kind in DEMO_FEEDS]
    for url, (_path, kind) in zip(urls, DEMO_FEEDS, strict=True):
        svc.feeds.upsert(FeedSpec(url=url, kind=kind, interval_s=3600))
    return urls


def _broker_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    keys = [q.encode() for q in QUEUES] + [b"unacked", b"unacked_index", b"unacked_mutex"]
    keys += list(client.scan_iter(match="celery*"))
    keys += list(client.scan_iter(match="_kombu.*"))
    keys += list(client.scan_iter(match=f"{prefix}:*"))
    return keys


@pytest.fixture
def e2e_redis_url() -> Iterator[str]:
    url = f"redis://127.0.0.1:6379/{E2E_REDIS_DB}"
    client = redis.Redis.from_url(url)
    prefix = E2E_PREFIX
    for key in _broker_keys(client, prefix):
        client.delete(key)
    yield url
    for key in _broker_keys(client, prefix):
        client.delete(key)
    client.close()


class ScriptedSite:
    """A real HTTP server on 127.0.0.1 (tests/test_fetch_support.py) answering each path from a
    script: `answer(path, (status, body, delay_s), ...)` gives those answers in turn, the last
    one repeating. Requests are logged by the server; `hits_of` counts them per path."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.base = server.url("")

    def answer(self, path: str, *answers: tuple[int, str, float]) -> None:
        script = list(answers)

        def route(handler: BaseHTTPRequestHandler) -> None:
            with self.server.lock:
                status, body, delay = script[0] if len(script) == 1 else script.pop(0)
            time.sleep(delay)
            send(
                handler, status, body.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"}
            )

        self.server.routes[path] = route

    def hits_of(self, path: str) -> int:
        return self.server.paths().count(path)


@pytest.fixture
def scripted_site() -> Iterator[ScriptedSite]:
    with serve() as server:
        yield ScriptedSite(server)
