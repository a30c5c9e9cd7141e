"""`newsflow serve` as a real process on a free port, for the integration and browser tests."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from workers.demo.session import settings_env
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(rb"serving on (http://\S+/)")


@contextmanager
def served(
    settings: Settings, log_path: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start `newsflow serve --port 0`; yield its base URL once it listens; stop it after."""
    env = {**settings_env(settings), **(extra_env or {})}
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        base = None
        while base is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            found = _LISTENING.search(line)
            if found:
                base = found.group(1).decode()
        assert base, f"newsflow serve did not start (exit {process.poll()}); see {log_path}"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
