"""The image's HEALTHCHECK: asks /healthz in a `newsflow serve` container, passes elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.serve.healthcheck import check, healthz_url, is_serve, serve_command
from workers.serve.http import make_server
from workers.serve.routes import ROUTES


def test_it_recognises_newsflow_serve_however_it_was_started() -> None:
    assert is_serve(["/opt/newsflow/bin/python", "/opt/newsflow/bin/newsflow", "serve"])
    assert is_serve(["python", "-m", "workers.cli", "serve", "--port", "80"])
    assert not is_serve(["/opt/newsflow/bin/newsflow", "worker", "--queues", "clean"])
    assert not is_serve(["/opt/newsflow/bin/newsflow", "scheduler"])


def test_the_url_follows_the_command_line_then_the_settings() -> None:
    argv = ["newsflow", "serve"]
    env = {"NEWSFLOW_SERVE_HOST": "0.0.0.0", "NEWSFLOW_SERVE_PORT": "9000"}
    assert healthz_url(argv, env) == "http://127.0.0.1:9000/healthz"
    assert healthz_url([*argv, "--port=81", "--host", "::"], env) == "http://[::1]:81/healthz"
    assert healthz_url(argv, {}) == "http://127.0.0.1:9464/healthz"


def test_a_container_without_serve_has_nothing_to_check(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "cmdline").write_bytes(b"/opt/newsflow/bin/newsflow\0worker\0")
    assert serve_command(tmp_path) is None
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cmdline").write_bytes(b"python\0-m\0workers.cli\0serve\0")
    assert serve_command(tmp_path) == ["python", "-m", "workers.cli", "serve"]


@pytest.fixture
def healthz_server() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, ROUTES, None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_it_passes_on_a_live_server_and_fails_on_a_closed_port(healthz_server: int) -> None:
    assert check(f"http://127.0.0.1:{healthz_server}/healthz")
    assert not check(f"http://127.0.0.1:{healthz_server}/nowhere")
    assert not check("http://127.0.0.1:1/healthz", timeout=1)
