"""The container image's HEALTHCHECK: `python -m workers.serve.healthcheck`.

One image runs every process type (see the Dockerfile). In a container that runs
`newsflow serve`, this GETs its /healthz (standard library only: the image has no curl) and
exits 0 on a 200, 1 otherwise. In any other container (a worker, the scheduler) there is no
HTTP server to ask: it exits 0, and those processes' liveness is their own (a worker that
stops exits, its heartbeat ends).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT_S = 3.0
_ANY = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names "every interface", binds nothing


def is_serve(argv: Sequence[str]) -> bool:
    """`newsflow serve ...` or `python -m workers.cli serve ...`."""
    for i, arg in enumerate(argv[:-1]):
        if (arg.endswith("newsflow") or arg == "workers.cli") and argv[i + 1] == "serve":
            return True
    return False


def serve_command(proc: Path = Path("/proc")) -> list[str] | None:
    """The argv of the `newsflow serve` running in this container (PID 1, or under an init
    such as tini), if any."""
    paths = sorted(proc.glob("[0-9]*/cmdline"), key=lambda p: int(p.parent.name))
    for path in paths:
        try:
            argv = [a.decode(errors="replace") for a in path.read_bytes().split(b"\0") if a]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if is_serve(argv):
            return argv
    return None


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


def check(url: str, timeout: float = TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own http URL
            return int(answer.status) == 200
    except urllib.error.HTTPError as refused:
        refused.close()
        return False
    except OSError:
        return False


def main() -> int:
    argv = serve_command()
    if argv is None:
        return 0
    return 0 if check(healthz_url(argv, os.environ)) else 1


if __name__ == "__main__":
    sys.exit(main())
