"""Fixtures for end-to-end runs: a private Redis database, a fresh SQLite file or PostgreSQL
database, the bundled demo sites on 127.0.0.1, and real `celery worker` processes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests.test_fetch_support import LocalServer, send, serve
from workers.pipeline import QUEUES
from workers.settings import Settings

# Integration runs own this Redis database (queues are not prefixed, so no other test uses it).
E2E_REDIS_DB = int(os.environ.get("NEWSFLOW_E2E_REDIS_DB", "10"))
PG_ADMIN_URL = os.environ.get(
    "NEWSFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


E2E_PREFIX = "nfe2e"


def e2e_settings(redis_url: str, database_url: str, **overrides: object) -> Settings:
    """Settings for worker processes in a test: local sites allowed and fetched briskly,
    short retry back-off, JSON logs."""
    base: dict[str, object] = {
        "redis_url": redis_url,
        "database_url": database_url,
        "key_prefix": E2E_PREFIX,
        "allow_hosts": "127.0.0.1",
        "fetch_host_rates": "*=50",
        "log_format": "json",
        "retry_backoff": 0.1,
        "retry_backoff_max": 0.5,
    }
    return Settings().with_overrides(**{**base, **overrides})


def _broker_keys(client: redis.Redis, prefix: str) -> list[bytes]:
    keys = [q.encode() for q in QUEUES] + [b"unacked", b"unacked_index", b"unacked_mutex"]
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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsflow.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards. Skips only where PostgreSQL is absent
    and CI has not said it must be there."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if os.environ.get("NEWSFLOW_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    name = f"newsflow_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
