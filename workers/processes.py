"""The process types of a deployment, and starting and stopping them as child processes.

The Procfile lists exactly these (a test keeps the two equal); `newsflow run` starts them all on
one machine, and `newsflow demo` and the integration tests start the stage workers the same way
(workers/demo/session.py). Fetch and dedup wait on the network, so they run threads; clean and
classify are CPU-bound, so they run one process per core.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import IO

PROCESS_TYPES: dict[str, str] = {
    "fetch": "newsflow worker --queues crawl,fetch --pool threads --concurrency 16",
    "clean": "newsflow worker --queues clean --pool prefork",
    "dedup": "newsflow worker --queues dedup --pool threads --concurrency 4",
    "classify": "newsflow worker --queues classify --pool prefork",
    "scheduler": "newsflow scheduler",
}
# Seconds a child gets to finish its current work after SIGTERM before it is killed.
STOP_TIMEOUT_S = 20.0


def procfile_text() -> str:
    return "".join(f"{name}: {command}\n" for name, command in PROCESS_TYPES.items())


def process_commands(only: str = "") -> dict[str, list[str]]:
    """argv of each process type (all, or the comma-separated `only`), on this interpreter."""
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
    commands: Mapping[str, list[str]],
    env: Mapping[str, str] | None = None,
    output: IO[bytes] | None = None,
) -> dict[str, subprocess.Popen[bytes]]:
    """Start each command as a child; its stdout and stderr go to `output` (default: ours)."""
    return {
        name: subprocess.Popen(argv, env=env, stdout=output, stderr=output)  # noqa: S603
        for name, argv in commands.items()
    }


def stop_processes(
    children: Mapping[str, subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT_S
) -> None:
    """SIGTERM every child (Celery's warm shutdown: finish, requeue the rest), kill stragglers."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
