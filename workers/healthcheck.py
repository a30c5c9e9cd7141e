"""The container's health check, cheap enough to run every few seconds: the image's HEALTHCHECK
and the probes of deploy/ are all `python -m workers.healthcheck`.

It looks at what the container runs (the command lines in /proc) and checks each newsflow
process type by its own sign of life:

- `newsflow serve`: its `/healthz` answers 200 (asked with urllib: the image has no curl).
- a worker or the scheduler: a heartbeat within `--max-age` seconds. Every process that runs
  stages touches a file here each time its heartbeat beats (every 10 s,
  `workers.adapters.stage_guard.Heartbeat`, whether or not Redis answers), and the scheduler
  touches one on every pass of its loop. A stale file means the process is gone, or frozen so
  that its heartbeat thread no longer runs. Heartbeat files count even when /proc shows no
  worker (a restricted /proc must not turn a frozen worker healthy).
- anything else (`newsflow events`, a one-off command): nothing to check; it passes.

`newsflow run` in one container is checked on both counts.

Why not `celery inspect ping`: worker node names are "<queues>.<pid>@<host>", not
"celery@$HOSTNAME"; a ping needs the broker, so a Redis blip would fail every worker's probe at
once and restart them all just as Redis comes back; and each probe starts a Celery app and a
broker connection (about a second of CPU). This check imports nothing but the standard library.
What neither catches, a prefork parent stuck while its children idle, the stage-stalled alert
does (docs/operations.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# Per container (each has its own /tmp); `NEWSFLOW_HEALTH_DIR` moves it (tests).
HEALTH_DIR = Path(os.environ.get("NEWSFLOW_HEALTH_DIR") or tempfile.gettempdir()) / "newsflow-alive"
# Where the container's command lines are read; `NEWSFLOW_HEALTH_PROC` points a test elsewhere.
PROC = Path(os.environ.get("NEWSFLOW_HEALTH_PROC") or "/proc")
# Files of processes gone for this long are removed by the next process that starts beating.
_FORGET_AFTER_S = 3600.0
_cleaned_in: int = 0

HTTP_TIMEOUT_S = 3.0
_ANY = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names "every interface", binds nothing
# The commands whose processes beat: a worker's stage processes and the scheduler's loop.
BEATING = frozenset({"worker", "scheduler"})


# --- the heartbeat files ------------------------------------------------------------------


def touch(directory: Path | None = None) -> None:
    """Mark this process alive now. Never raises: a read-only /tmp must not stop a worker."""
    global _cleaned_in
    directory = directory or HEALTH_DIR
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / str(os.getpid())).touch()
        if _cleaned_in != os.getpid():
            _cleaned_in = os.getpid()
            now = time.time()
            for old in directory.iterdir():
                with contextlib.suppress(OSError):
                    if now - old.stat().st_mtime > _FORGET_AFTER_S:
                        old.unlink()


def newest_age(directory: Path | None = None, now: float | None = None) -> float | None:
    """Seconds since the freshest file was touched; None when there is none."""
    directory = directory or HEALTH_DIR
    now = time.time() if now is None else now
    try:
        times = [p.stat().st_mtime for p in directory.iterdir()]
    except OSError:
        return None
    return now - max(times) if times else None


# --- what the container runs ----------------------------------------------------------------


def container_commands(proc: Path | None = None) -> list[list[str]]:
    """The command line of every process this container shows, oldest (lowest PID) first."""
    proc = proc or PROC
    paths = sorted(proc.glob("[0-9]*/cmdline"), key=lambda p: int(p.parent.name))
    commands = []
    for path in paths:
        try:
            argv = [a.decode(errors="replace") for a in path.read_bytes().split(b"\0") if a]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if argv:
            commands.append(argv)
    return commands


def newsflow_command(argv: Sequence[str]) -> str | None:
    """The newsflow subcommand `argv` runs (`newsflow serve ...`, `python -m workers.cli worker
    ...`), or None for any other program."""
    for i, arg in enumerate(argv[:-1]):
        if arg.endswith("newsflow") or arg == "workers.cli":
            return argv[i + 1]
    return None


# --- `newsflow serve` -------------------------------------------------------------------------


def _option(argv: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def healthz_url(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The /healthz URL of the `newsflow serve` that `argv` runs, in environment `env`."""
    host = _option(argv, "--host") or env.get("NEWSFLOW_SERVE_HOST", "127.0.0.1")
    port = _option(argv, "--port") or env.get("NEWSFLOW_SERVE_PORT", "9464")
    if host in _ANY:
        host = "::1" if ":" in host else "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{int(port)}/healthz"


def answers(url: str, timeout: float = HTTP_TIMEOUT_S) -> bool:
    """True when `url` answers 200 within `timeout` seconds."""
    # Imported here: every stage process imports this module for `touch`, and has no use for
    # urllib's HTTP client (http.client, email's parser: ~0.7 MB in each).
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own http URL
            return int(answer.status) == 200
    except urllib.error.HTTPError as refused:
        refused.close()
        return False
    except OSError:
        return False


# --- the check ------------------------------------------------------------------------------


def problems(
    commands: Sequence[Sequence[str]],
    max_age: float,
    env: Mapping[str, str],
    directory: Path | None = None,
) -> list[str]:
    """What is wrong with the newsflow processes among `commands`; empty when nothing is."""
    found: list[str] = []
    serve = [argv for argv in commands if newsflow_command(argv) == "serve"]
    if serve and not answers(url := healthz_url(serve[0], env)):
        found.append(f"newsflow serve does not answer on {url}")
    age = newest_age(directory)
    if age is None:
        if any(newsflow_command(argv) in BEATING for argv in commands):
            found.append(f"no heartbeat in {directory or HEALTH_DIR}: no stage process has started")
    elif age > max_age:
        found.append(f"last heartbeat {age:.0f} s ago (over {max_age:g} s)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.healthcheck",
        description="Exit 0 when the newsflow processes of this container are alive: `newsflow "
        "serve` answers /healthz, and a worker or scheduler process beat within --max-age "
        "seconds.",
    )
    parser.add_argument("--max-age", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    found = problems(container_commands(), args.max_age, os.environ)
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
