"""`newsflow run`: every process type of the Procfile on this machine (one-box deployment)."""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType

from workers.processes import PROCESS_TYPES, Supervisor, process_commands
from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="run every Procfile process on this machine",
        description="Start every process type of the Procfile (stage workers, the "
        "scheduler and the web process of `newsflow serve`) as child processes and keep them "
        "running: a process that exits is restarted with back-off; one that keeps dying makes "
        "`newsflow run` stop everything and exit 1. Ctrl-C or SIGTERM stops them all "
        "gracefully (exit 0).",
    )
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated process types to start (default: all of {', '.join(PROCESS_TYPES)})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        commands = process_commands(args.only)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    supervisor = Supervisor(commands)
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    import structlog  # not at the top: `newsflow --help` must not load it

    supervisor.start()
    log = structlog.get_logger("newsflow.supervisor")
    log.info("processes_started", processes={n: p.pid for n, p in supervisor.processes.items()})
    try:
        while not stopping:
            if not supervisor.poll():
                log.error("supervisor_gave_up", reason=supervisor.gave_up)
                return 1
            time.sleep(0.5)
    finally:
        supervisor.stop()
    return 0
