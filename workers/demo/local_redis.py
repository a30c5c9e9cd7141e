"""A local Redis for one-box use: the one place that checks whether one answers and starts one.

Two callers, two lifetimes:
- `newsflow demo` runs `local_redis(url)`: when nothing answers at a loopback URL it starts
  redis-server as its own child process and stops it when the demo ends;
- `scripts/ensure-services.sh` (tests, CI) runs `python3 -m workers.demo.local_redis [URL]`,
  which leaves a daemonised redis-server running for later commands and says how to stop it.

Standard library only (a PING over a socket), so the script can run it before any virtualenv
exists. Only a Redis on this machine is ever started; a remote URL that does not answer is an
error for the operator to fix.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

DEFAULT_URL = "redis://127.0.0.1:6379/0"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# redis-server is up in ~10-50 ms; 5 s covers a loaded machine without hiding a failed start.
START_TIMEOUT_S = 5.0
# Exit status of the command line when redis-server is not installed (the script installs it).
EXIT_NOT_INSTALLED = 3


class LocalRedisError(RuntimeError):
    """No Redis answers and none could be started; the message says what to do."""


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server listens at `url` (any reply to PING, e.g. NOAUTH, counts).

    Only plain redis:// URLs are probed; for rediss:// (TLS) and unix:// the answer is True,
    since newsflow never starts those and the client will report their errors itself.
    """
    parsed = urlparse(url)
    if parsed.scheme != "redis":
        return True
    try:
        with socket.create_connection(_address(url), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64)[:1] in (b"+", b"-")
    except OSError:
        return False


def redis_server_argv(port: int, daemonize: bool) -> list[str]:
    """redis-server on 127.0.0.1:`port` without persistence (a throw-away instance)."""
    server = shutil.which("redis-server")
    if server is None:
        raise LocalRedisError(
            "Redis does not answer and redis-server is not installed: "
            "install it (e.g. `apt-get install -y redis-server`) or set REDIS_URL"
        )
    return [
        server,
        "--daemonize",
        "yes" if daemonize else "no",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
    ]


@contextmanager
def local_redis(url: str) -> Iterator[str | None]:
    """Make Redis answer at `url` for the duration of the block.

    Yields None when one already answers (it is left alone); otherwise starts redis-server as a
    child process, yields a sentence saying so, and stops it when the block ends.
    """
    if redis_answers(url):
        yield None
        return
    port = _startable_port(url)
    child = subprocess.Popen(  # noqa: S603 - fixed arguments, binary found on PATH
        redis_server_argv(port, daemonize=False),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_answering(url, child)
        yield f"started redis-server on 127.0.0.1:{port} (pid {child.pid}); it stops with the demo"
    finally:
        child.terminate()  # SIGTERM: redis-server shuts down (nothing to save)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def start_detached(url: str) -> str | None:
    """Start a daemonised redis-server for `url` unless one answers; None if one did.

    Returns a sentence saying what was started and how to stop it.
    """
    if redis_answers(url):
        return None
    port = _startable_port(url)
    done = subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
        redis_server_argv(port, daemonize=True), capture_output=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise LocalRedisError(f"redis-server did not start (status {done.returncode}): {output}")
    _wait_until_answering(url)
    return (
        f"started redis-server on 127.0.0.1:{port} in the background (no persistence); "
        f"stop it with: redis-cli -p {port} shutdown nosave"
    )


def _address(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379


def _startable_port(url: str) -> int:
    host, port = _address(url)
    if host not in LOOPBACK:
        raise LocalRedisError(f"Redis at {url} does not answer (and is not local, so not started)")
    return port


def _wait_until_answering(url: str, child: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not redis_answers(url, timeout=0.5):
        if child is not None and child.poll() is not None:
            raise LocalRedisError(f"redis-server exited at start (status {child.returncode})")
        if time.monotonic() > deadline:
            raise LocalRedisError(f"started redis-server but {url} does not answer")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m workers.demo.local_redis",
        description="Make a local Redis answer: start a daemonised redis-server (left running) "
        f"when none does. Exit status {EXIT_NOT_INSTALLED}: redis-server is not installed.",
    )
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    args = parser.parse_args(argv)
    if not redis_answers(args.url) and shutil.which("redis-server") is None:
        print("local_redis: Redis does not answer; redis-server is not installed", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    try:
        started = start_detached(args.url)
    except LocalRedisError as exc:
        print(f"local_redis: {exc}", file=sys.stderr)
        return 1
    print(f"local_redis: {started or 'Redis answers at ' + args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
