"""`newsflow worker`: a Celery worker for some of the stage queues."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from typing import Any

from workers.pipeline import QUEUES
from workers.settings import Settings

# Queues whose work waits on the network rather than the CPU.
IO_BOUND = frozenset({"crawl", "fetch", "dedup"})
# Threads per I/O-bound worker when not given: a fetch spends most of its time waiting.
DEFAULT_IO_CONCURRENCY = 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "worker",
        help="run a worker for some stage queues",
        description="Run a Celery worker consuming the given stage queues. Start as many as "
        "you like, on as many machines as you like: all state is in Redis and the database.",
    )
    p.add_argument(
        "--queues",
        "-Q",
        default=",".join(QUEUES),
        help=f"comma-separated queues (default: all of {', '.join(QUEUES)})",
    )
    p.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=0,
        help="processes or threads (default: one process per core for prefork, one per two "
        "cores for a classify-only worker, "
        f"{DEFAULT_IO_CONCURRENCY} for threads)",
    )
    p.add_argument(
        "--pool",
        "-P",
        choices=("prefork", "threads", "solo"),
        default=None,
        help="execution pool (default: threads for crawl/fetch/dedup-only workers, else prefork)",
    )
    p.add_argument("--name", "-n", default=None, help="worker node name (default: queues@host)")
    p.set_defaults(func=run)


def default_concurrency(pool: str, queues: list[str], cores: int) -> int:
    """Threads for I/O-bound pools; for prefork one process per core, except a classify-only
    worker: one per two cores. Classify costs about half of clean's CPU per article (16 vs
    31 ms, benchmarks/pipeline.py) and each of its processes holds ~500 MB of model, so on a
    2-core box one classify process keeps up with two clean processes (docs/performance.md)."""
    if pool == "threads":
        return DEFAULT_IO_CONCURRENCY
    if queues == ["classify"]:
        return max(1, cores // 2)
    return cores


def pool_of(args: argparse.Namespace) -> tuple[list[str], str, int]:
    """The queues, the pool and its concurrency these arguments ask for."""
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise SystemExit(f"unknown queue(s): {', '.join(unknown)}; queues are {', '.join(QUEUES)}")
    pool = args.pool or ("threads" if set(queues) <= IO_BOUND else "prefork")
    concurrency = args.concurrency or default_concurrency(pool, queues, os.cpu_count() or 1)
    return queues, pool, concurrency


def stage_threads(args: argparse.Namespace) -> int:
    """How many stages this worker process runs at once: its threads for a threads pool; one
    for solo, and for a prefork parent, whose children run one task each."""
    _, pool, concurrency = pool_of(args)
    return concurrency if pool == "threads" else 1


def worker_argv(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The arguments of Celery's `worker` command for these queues and settings."""
    queues, pool, concurrency = pool_of(args)
    name = args.name or f"{'-'.join(queues)}.{os.getpid()}@{socket.gethostname()}"
    return [
        f"--queues={','.join(queues)}",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--hostname={name}",
        f"--loglevel={settings.log_level}",
        # Gossip and mingle make every worker talk to every other at start-up; nothing here
        # needs them, and they slow start-up with many workers.
        "--without-gossip",
        "--without-mingle",
    ]


def run(args: argparse.Namespace, settings: Settings) -> int:
    import click
    from celery.bin.base import CLIContext

    # Celery's `worker` command alone, not through the `celery` command group: the group imports
    # every Celery subcommand, and `celery amqp` brings click-repl and prompt_toolkit (~9 MB in
    # each worker process and pool process, never used; benchmarks/pipeline.py). What the group
    # would do first for this app is making the context below.
    from celery.bin.worker import worker as worker_command

    from workers.app import app
    from workers.logconfig import uses_json
    from workers.services import run_stages_in_threads

    run_stages_in_threads(stage_threads(args))
    json_logs = uses_json(settings.log_format)
    if json_logs:
        _say_in_json()
    # Celery's start-up banner is plain text on stdout: with JSON logs the `worker_started`
    # event (workers/app.py) says the same in one JSON line instead.
    context = CLIContext(app=app, no_color=None, workdir=None, quiet=json_logs)
    # A worker that stops on an unrecoverable error (kombu can crash closing a channel to a
    # restarting Redis) must exit non-zero, or a restart-on-failure supervisor leaves it dead.
    try:
        code = worker_command.main(
            args=worker_argv(args, settings),
            prog_name="newsflow worker",
            obj=context,
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    return int(code or 0)


def _say_in_json() -> None:
    """Celery writes its shutdown messages ("worker: Warm shutdown (MainProcess)") with
    os.write straight to the stdout file descriptor, past any Python-level stream: make them
    one JSON line each, written the same way (safe in the signal handler it runs in)."""
    import celery.apps.worker as celery_worker

    from workers.logconfig import json_line

    def say(msg: str, f: Any = sys.__stderr__) -> None:
        with contextlib.suppress(OSError, AttributeError, ValueError):  # best effort, as Celery's
            os.write(f.fileno(), json_line(msg.strip(), "info", "celery.apps.worker").encode())

    celery_worker.safe_say = say
