"""A liveness check for worker and scheduler containers, cheap enough to run every few seconds.

Every process that runs stages touches a file here each time its heartbeat beats (every 10 s,
`workers.adapters.stage_guard.Heartbeat`, whether or not Redis answers), and the scheduler
touches one on every pass of its loop. `python -m workers.healthcheck` exits 0 when one of this
container's files is fresher than `--max-age` seconds, 1 otherwise: the process is gone, or
frozen so that its heartbeat thread no longer runs.

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
from pathlib import Path

# Per container (each has its own /tmp); `NEWSFLOW_HEALTH_DIR` moves it (tests).
HEALTH_DIR = Path(os.environ.get("NEWSFLOW_HEALTH_DIR") or tempfile.gettempdir()) / "newsflow-alive"
# Files of processes gone for this long are removed by the next process that starts beating.
_FORGET_AFTER_S = 3600.0
_cleaned_in: int = 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workers.healthcheck",
        description="Exit 0 when a newsflow worker or scheduler process in this container "
        "beat within --max-age seconds.",
    )
    parser.add_argument("--max-age", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    age = newest_age()
    if age is None:
        print(f"no heartbeat in {HEALTH_DIR}: no worker process has started", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"last heartbeat {age:.0f} s ago (over {args.max_age:g} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
