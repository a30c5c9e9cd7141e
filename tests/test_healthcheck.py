"""The container's health check (`python -m workers.healthcheck`, the image's HEALTHCHECK and the
probes of deploy/): each newsflow process type in the container is checked by its own sign of
life, `newsflow serve` by /healthz and workers and the scheduler by their heartbeat files."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers import healthcheck
from workers.healthcheck import container_commands, healthz_url, newsflow_command
from workers.serve.http import make_server
from workers.serve.routes import ROUTES


def test_it_recognises_newsflow_commands_however_they_were_started() -> None:
    assert newsflow_command(["/opt/newsflow/bin/python", "/opt/newsflow/bin/newsflow", "serve"])
    assert newsflow_command(["python", "-m", "workers.cli", "serve", "--port", "80"]) == "serve"
    assert newsflow_command(["/opt/newsflow/bin/newsflow", "worker", "--queues", "clean"]) == (
        "worker"
    )
    assert newsflow_command(["newsflow", "scheduler"]) == "scheduler"
    assert newsflow_command(["redis-server", "*:6379"]) is None
    assert newsflow_command(["newsflow"]) is None


def test_the_url_follows_the_command_line_then_the_settings() -> None:
    argv = ["newsflow", "serve"]
    env = {"NEWSFLOW_SERVE_HOST": "0.0.0.0", "NEWSFLOW_SERVE_PORT": "9000"}
    assert healthz_url(argv, env) == "http://127.0.0.1:9000/healthz"
    assert healthz_url([*argv, "--port=81", "--host", "::"], env) == "http://[::1]:81/healthz"
    assert healthz_url(argv, {}) == "http://127.0.0.1:9464/healthz"


def test_it_reads_the_command_lines_of_this_machines_processes() -> None:
    argv = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")
    mine = [a.decode(errors="replace") for a in argv if a]
    assert mine in container_commands(Path("/proc"))


@pytest.fixture
def healthz_server() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, ROUTES, None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_it_asks_a_live_server_and_fails_on_a_closed_port(healthz_server: int) -> None:
    assert healthcheck.answers(f"http://127.0.0.1:{healthz_server}/healthz")
    assert not healthcheck.answers(f"http://127.0.0.1:{healthz_server}/nowhere")
    assert not healthcheck.answers("http://127.0.0.1:1/healthz", timeout=1)


# --- the check as the image runs it -----------------------------------------------------------


class Container:
    """A container's view for the check: its processes' command lines (a /proc of its own, the
    one seam) and its heartbeat directory."""

    def __init__(self, root: Path) -> None:
        self.proc = root / "proc"
        self.proc.mkdir()
        self.health = root / "tmp"
        self.beats = self.health / "newsflow-alive"
        self._pid = 0

    def runs(self, *argv: str) -> None:
        self._pid += 1
        (self.proc / str(self._pid)).mkdir()
        (self.proc / str(self._pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv))

    def beat(self, seconds_ago: float = 0.0) -> None:
        healthcheck.touch(self.beats)
        when = time.time() - seconds_ago
        for beat in self.beats.iterdir():
            os.utime(beat, (when, when))

    def check(self, *args: str) -> int:
        env = {
            **os.environ,
            "NEWSFLOW_HEALTH_PROC": str(self.proc),
            "NEWSFLOW_HEALTH_DIR": str(self.health),
        }
        return subprocess.run(
            [sys.executable, "-m", "workers.healthcheck", *args],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        ).returncode


@pytest.fixture
def container(tmp_path: Path) -> Container:
    return Container(tmp_path)


def test_a_worker_container_is_healthy_while_a_process_beats(container: Container) -> None:
    container.runs("/opt/newsflow/bin/python", "/opt/newsflow/bin/newsflow", "worker")
    assert container.check() == 1  # no process has beaten yet
    container.beat()
    assert container.check() == 0
    container.beat(seconds_ago=120)  # gone, or frozen so its heartbeat thread stopped
    assert container.check() == 1
    # The default (60 s) is what deploy/ and the image use; a probe may allow longer.
    assert container.check("--max-age", "300") == 0


def test_a_scheduler_container_is_checked_by_its_beat_too(container: Container) -> None:
    container.runs("newsflow", "scheduler")
    assert container.check() == 1
    container.beat()
    assert container.check() == 0


def test_a_serve_container_is_healthy_while_healthz_answers(
    container: Container, healthz_server: int
) -> None:
    container.runs("python", "-m", "workers.cli", "serve", "--port", str(healthz_server))
    assert container.check() == 0  # no heartbeat needed: serve has none


def test_a_serve_container_whose_server_does_not_answer_is_unhealthy(container: Container) -> None:
    container.runs("newsflow", "serve", "--port", "1")
    assert container.check() == 1


def test_newsflow_run_in_one_container_needs_both(
    container: Container, healthz_server: int
) -> None:
    container.runs("newsflow", "run")
    container.runs("python", "-m", "workers.cli", "worker", "--queues", "clean")
    container.runs("python", "-m", "workers.cli", "serve", "--port", str(healthz_server))
    assert container.check() == 1  # serve answers, but no stage process has beaten
    container.beat()
    assert container.check() == 0


def test_a_stale_heartbeat_fails_even_when_the_processes_cannot_be_seen(
    container: Container,
) -> None:
    """A /proc that hides other users' processes must not turn a frozen worker healthy."""
    container.beat(seconds_ago=120)
    assert container.check() == 1


def test_a_container_running_something_else_has_nothing_to_check(container: Container) -> None:
    container.runs("newsflow", "events", "--follow")
    assert container.check() == 0


def test_the_check_starts_without_loading_the_service_libraries() -> None:
    """It runs every 15-30 s in every pod: no Celery, no SQLAlchemy, no structlog."""
    code = (
        "import sys, workers.healthcheck; "
        "print(','.join(m for m in ('celery', 'sqlalchemy', 'structlog', 'redis') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert loaded == ""


def test_a_stage_process_importing_it_to_beat_loads_no_http_client() -> None:
    """Every stage process imports it for `touch`; only the check itself asks /healthz."""
    code = "import sys, workers.healthcheck; print('urllib.request' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert loaded == "False"
