"""`newsflow worker`: the Celery worker command line it builds from queues and settings, and
the store connections it keeps for the stages it runs at once."""

from __future__ import annotations

import argparse

import pytest

from workers import services
from workers.commands.worker import (
    DEFAULT_IO_CONCURRENCY,
    default_concurrency,
    stage_threads,
    worker_argv,
)
from workers.services import Services
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


@pytest.mark.parametrize(
    ("pool", "concurrency", "threads"),
    [("threads", 0, DEFAULT_IO_CONCURRENCY), ("threads", 4, 4), ("prefork", 2, 1), ("solo", 0, 1)],
)
def test_a_worker_says_how_many_stages_it_runs_at_once(
    pool: str, concurrency: int, threads: int
) -> None:
    args = argparse.Namespace(queues="fetch", concurrency=concurrency, pool=pool, name=None)
    assert stage_threads(args) == threads


def test_a_threaded_workers_store_keeps_a_connection_for_each_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fewer, the pool opens "overflow" connections and closes them on return: on
    PostgreSQL a server process forked and warmed for about every message a fetch worker ran."""
    monkeypatch.setattr(services, "_services", None)
    monkeypatch.setattr(services, "_threads", 1)
    services.run_stages_in_threads(DEFAULT_IO_CONCURRENCY)
    assert services.get_services().threads == DEFAULT_IO_CONCURRENCY
    monkeypatch.setattr(services, "_services", None)

    svc = Services(settings, threads=DEFAULT_IO_CONCURRENCY)
    engine = svc.store.engine
    try:
        held = [engine.connect() for _ in range(DEFAULT_IO_CONCURRENCY)]
        for conn in held:
            conn.close()
        assert engine.pool.checkedin() == DEFAULT_IO_CONCURRENCY  # none closed on return
    finally:
        svc.close()
    lone = Services(settings)
    try:
        assert lone.store.engine.pool.size() == 5
    finally:
        lone.close()
