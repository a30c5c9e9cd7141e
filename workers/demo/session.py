"""Run the pipeline end to end on this machine: workers as child processes, feeds, waiting.

Used by `newsflow demo` and by the integration tests, so the demo is tested the way it runs.
Processes start through `workers.processes`, as `newsflow run` starts them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from workers.pipeline import TERMINAL
from workers.processes import process_commands, stop_processes
from workers.settings import Settings
from workers.store import ArticleStore
from workers.store.feeds import FeedStore

# Every process type: the scheduler dispatches retries and deferred fetches and reconciles.
WORKER_TYPES = ("fetch", "clean", "dedup", "classify", "scheduler")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce `settings` in a child process."""
    from dataclasses import fields

    env = dict(os.environ)
    for f in fields(settings):
        env[f.metadata["env"]] = str(getattr(settings, f.name))
    return env


def start_workers(
    settings: Settings,
    log_file: IO[bytes] | None = None,
    types: Iterable[str] = WORKER_TYPES,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, subprocess.Popen[bytes]]:
    """Start the stage workers of `types` with `settings`; their output goes to `log_file`."""
    env = {**settings_env(settings), **(extra_env or {})}
    commands = process_commands(",".join(types))
    return {
        name: subprocess.Popen(argv, env=env, stdout=log_file, stderr=log_file)  # noqa: S603
        for name, argv in commands.items()
    }


def wait_until_settled(
    store: ArticleStore,
    feeds: FeedStore,
    feed_urls: Iterable[str],
    timeout: float,
    children: Mapping[str, subprocess.Popen[bytes]] | None = None,
) -> bool:
    """Wait until every feed was polled and every article reached a terminal status."""
    feed_urls = list(feed_urls)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if children:
            dead = {n: c.returncode for n, c in children.items() if c.poll() is not None}
            if dead:
                raise RuntimeError(f"worker process(es) exited early: {dead}")
        polled = all(
            (state := feeds.get(url)) is not None
            and (state.last_success_at is not None or state.consecutive_failures > 0)
            for url in feed_urls
        )
        counts = store.counts_by_status()
        pending = sum(n for status, n in counts.items() if status not in TERMINAL)
        if polled and counts and pending == 0:
            return True
        time.sleep(0.3)
    return False


def remove_sqlite_file(database_url: str) -> None:
    """Delete a SQLite database file and its WAL companions (for a fresh demo run)."""
    if not database_url.startswith("sqlite:///"):
        return
    path = Path(database_url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


__all__ = [
    "remove_sqlite_file",
    "settings_env",
    "start_workers",
    "stop_processes",
    "wait_until_settled",
]
