"""Shared fixtures: a private Redis namespace per test, and strict restoration of global state.

Tests talk to the real Redis on 127.0.0.1:6379 (database NEWSFLOW_TEST_REDIS_DB, default 9) and
never touch keys outside their own random prefix, which is deleted afterwards.

Compute runs on one thread here (OMP_NUM_THREADS, read by torch and OpenBLAS when they load), as
in a classify worker (workers/tasks.py): with two threads on two cores that other jobs also use,
torch's threads wait on each other, and encoding the 216 self-training texts took 25-39 s instead
of 5 (load ~6). Answers do not depend on it. Set here rather than by importing torch, so a run
of a few fast tests does not load torch at all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

os.environ.setdefault("OMP_NUM_THREADS", "1")

TEST_REDIS_DB = int(os.environ.get("NEWSFLOW_TEST_REDIS_DB", "9"))
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis database (shared by tests; isolate keys with `key_prefix`)."""
    return TEST_REDIS_URL


@pytest.fixture
def key_prefix() -> str:
    """A fresh key prefix (braces make it one Redis Cluster hash tag), removed after the test."""
    return f"nftest:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError:  # pragma: no cover - environment problem, say so plainly
        pytest.fail("Redis is not answering on 127.0.0.1:6379; start it (see .ci/run)")
    yield client
    _delete_prefix(client, key_prefix)
    client.close()
