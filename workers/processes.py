"""The process types of a deployment, and a small supervisor that runs them on one machine.

The Procfile lists exactly `PROCESS_TYPES` (a test keeps the two equal); `newsflow run` starts
them all with `Supervisor`, which restarts a process that exits on its own (with back-off), and
gives up (exit non-zero) when one keeps dying. Fetch and dedup wait on the network, so they run
threads; clean and classify are CPU-bound, so they run one process per core; web is the HTTP
process (metrics, health checks, the dashboard).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any


def _log() -> Any:
    # structlog is imported on first use: this module is loaded by `newsflow --help`, which
    # must start fast, and structlog's import alone costs ~0.2 s.
    import structlog

    return structlog.get_logger("newsflow.supervisor")


PROCESS_TYPES: dict[str, str] = {
    "fetch": "newsflow worker --queues crawl,fetch --pool threads --concurrency 16",
    "clean": "newsflow worker --queues clean --pool prefork",
    "dedup": "newsflow worker --queues dedup --pool threads --concurrency 4",
    "classify": "newsflow worker --queues classify --pool prefork",
    "scheduler": "newsflow scheduler",
    "web": "newsflow serve",
}

# glibc gives a threaded process up to 8 malloc arenas per core, and Python's memory spread over
# them is rarely returned: the 16-thread fetch worker held 243 MB RSS, 165 MB with two arenas
# (dedup 153 -> 129 MB, clean children ~20 MB less each; no CPU cost measured,
# benchmarks/pipeline.py, docs/performance.md). A value set by the operator wins.
MALLOC_ARENA_MAX = "2"


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment each process type starts with: `env`, plus the malloc arena cap."""
    return {"MALLOC_ARENA_MAX": MALLOC_ARENA_MAX, **env}


# Restart back-off: 1 s after the first exit, doubling, at most a minute.
RESTART_DELAY_S = 1.0
RESTART_DELAY_MAX_S = 60.0
# A process that exits this many times within the window is broken, not unlucky: give up and
# exit non-zero, so whatever runs `newsflow run` (systemd, a container runtime) sees it.
GIVE_UP_AFTER = 5
GIVE_UP_WINDOW_S = 300.0
# A warm shutdown lets tasks finish (a fetch has a 30 s deadline); then the rest is killed.
STOP_TIMEOUT_S = 40.0


def procfile_text() -> str:
    return "".join(f"{name}: {command}\n" for name, command in PROCESS_TYPES.items())


def process_commands(only: str = "") -> dict[str, list[str]]:
    """argv per process type (all, or the comma-separated `only`), run with this interpreter."""
    wanted = {name.strip() for name in only.split(",") if name.strip()} or set(PROCESS_TYPES)
    unknown = wanted - set(PROCESS_TYPES)
    if unknown:
        raise ValueError(f"unknown process type(s): {', '.join(sorted(unknown))}")
    commands = {}
    for name, line in PROCESS_TYPES.items():
        if name in wanted:
            argv = shlex.split(line)
            # The same interpreter's entry point, so a virtualenv needs no PATH set-up.
            commands[name] = [sys.executable, "-m", "workers.cli", *argv[1:]]
    return commands


@dataclass(slots=True)
class _Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    exits: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


class Supervisor:
    """Starts processes, restarts the ones that exit, stops them all on request."""

    def __init__(
        self,
        commands: Mapping[str, list[str]],
        env: Mapping[str, str] | None = None,
        output: IO[bytes] | None = None,
        restart: bool = True,
    ) -> None:
        self._children = {name: _Child(name, list(argv)) for name, argv in commands.items()}
        self._env = child_environment(os.environ if env is None else env)
        self._output = output
        self._restart = restart
        self.gave_up: str | None = None

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {n: c.process for n, c in self._children.items() if c.process is not None}

    def start(self) -> None:
        for child in self._children.values():
            self._spawn(child)

    def poll(self, now: float | None = None) -> bool:
        """Restart what exited (when due); False once a process keeps dying (given up)."""
        now = time.monotonic() if now is None else now
        for child in self._children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    self._spawn(child)
                continue
            if child.process is None or child.process.poll() is None:
                continue
            code = child.process.returncode
            child.exits.append(now)
            while child.exits and now - child.exits[0] > GIVE_UP_WINDOW_S:
                child.exits.popleft()
            if not self._restart or len(child.exits) >= GIVE_UP_AFTER:
                self.gave_up = (
                    f"{child.name} exited {len(child.exits)} time(s) within "
                    f"{GIVE_UP_WINDOW_S:.0f} s (last exit code {code})"
                )
                _log().error("process_gave_up", process=child.name, exit_code=code)
                return False
            delay = min(RESTART_DELAY_MAX_S, RESTART_DELAY_S * 2 ** (len(child.exits) - 1))
            child.restart_at = now + delay
            _log().warning("process_exited", process=child.name, exit_code=code, restart_in_s=delay)
        return True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        stop_processes(self.processes, timeout)

    def _spawn(self, child: _Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            child.argv, env=self._env, stdout=self._output, stderr=self._output
        )
        _log().info("process_started", process=child.name, pid=child.process.pid)


def stop_processes(
    children: Mapping[str, subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT_S
) -> None:
    """SIGTERM (Celery's warm shutdown: finish, requeue the rest), then SIGKILL at `timeout`."""
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
