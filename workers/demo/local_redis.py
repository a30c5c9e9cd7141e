"""Start a throw-away local Redis when none answers (for the demo and one-box use)."""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlparse

import redis


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def ensure_local_redis(url: str) -> str | None:
    """Return None when Redis at `url` answers; otherwise start one on its port and say how.

    Only a Redis on this machine is started (loopback host); a remote URL that does not
    answer is an error the operator must fix.
    """
    if redis_answers(url):
        return None
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise RuntimeError(f"Redis at {url} does not answer (and is not local, so not started)")
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError(
            "Redis does not answer and redis-server is not installed: "
            "install it (e.g. `apt-get install -y redis-server`) or set REDIS_URL"
        )
    port = str(parsed.port or 6379)
    subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
        [
            server,
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            port,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
        capture_output=True,
    )
    for _ in range(50):
        if redis_answers(url):
            return f"started a local redis-server on 127.0.0.1:{port} (no persistence)"
        time.sleep(0.1)
    raise RuntimeError(f"started redis-server on port {port} but it does not answer")
