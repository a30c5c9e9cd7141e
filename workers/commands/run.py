"""`newsflow run`: every process type of the Procfile on this machine (one-box deployment)."""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from types import FrameType

from workers.processes import PROCESS_TYPES
from workers.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="run every Procfile process on this machine",
        description="Start every process type of the Procfile (stage workers and the "
        "scheduler) as child processes; Ctrl-C or SIGTERM stops them all gracefully.",
    )
    p.add_argument(
        "--only", default="", help="comma-separated process types to start (default: all)"
    )
    p.set_defaults(func=run)


def process_commands(only: str = "") -> dict[str, list[str]]:
    wanted = {name.strip() for name in only.split(",") if name.strip()} or set(PROCESS_TYPES)
    unknown = wanted - set(PROCESS_TYPES)
    if unknown:
        raise SystemExit(f"unknown process type(s): {', '.join(sorted(unknown))}")
    commands = {}
    for name, line in PROCESS_TYPES.items():
        if name in wanted:
            argv = shlex.split(line)
            # Run the same interpreter's entry point, so a virtualenv needs no PATH set-up.
            commands[name] = [sys.executable, "-m", "workers.cli", *argv[1:]]
    return commands


def start_processes(
    commands: dict[str, list[str]], env: dict[str, str] | None = None
) -> dict[str, subprocess.Popen[bytes]]:
    return {name: subprocess.Popen(argv, env=env) for name, argv in commands.items()}  # noqa: S603


def stop_processes(children: dict[str, subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish, requeue the rest
    deadline = time.monotonic() + timeout
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run(args: argparse.Namespace, settings: Settings) -> int:
    children = start_processes(process_commands(args.only))
    print(f"started {', '.join(f'{n} (pid {c.pid})' for n, c in children.items())}")
    stopping = False

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping:
            exited = {n: c.returncode for n, c in children.items() if c.poll() is not None}
            if exited:
                print(f"process(es) exited: {exited}; stopping the rest")
                break
            time.sleep(0.5)
    finally:
        stop_processes(children)
    return 0
