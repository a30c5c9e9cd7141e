"""`newsflow worker`: the Celery worker command line it builds from queues and settings."""

from __future__ import annotations

import argparse

import pytest

from workers.commands.worker import DEFAULT_IO_CONCURRENCY, default_concurrency, worker_argv
from workers.settings import Settings


@pytest.mark.parametrize(
    ("pool", "queues", "cores", "expected"),
    [
        ("threads", ["crawl", "fetch"], 2, DEFAULT_IO_CONCURRENCY),
        ("prefork", ["clean"], 2, 2),
        ("prefork", ["clean"], 8, 8),
        ("prefork", ["classify"], 2, 1),  # half of clean's CPU per article, 500 MB a process
        ("prefork", ["classify"], 8, 4),
        ("prefork", ["classify"], 1, 1),
        ("prefork", ["clean", "classify"], 2, 2),
    ],
)
def test_default_concurrency_per_pool_and_stage(
    pool: str, queues: list[str], cores: int, expected: int
) -> None:
    assert default_concurrency(pool, queues, cores) == expected


def test_an_explicit_concurrency_wins() -> None:
    args = argparse.Namespace(queues="classify", concurrency=3, pool=None, name="w@h")
    argv = worker_argv(args, Settings())
    assert "--concurrency=3" in argv
    assert "--pool=prefork" in argv


def test_io_bound_queues_default_to_threads() -> None:
    args = argparse.Namespace(queues="crawl,fetch", concurrency=0, pool=None, name=None)
    argv = worker_argv(args, Settings())
    assert "--pool=threads" in argv
    assert f"--concurrency={DEFAULT_IO_CONCURRENCY}" in argv
