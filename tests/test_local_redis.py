"""A local Redis for one-box use: started only on this machine, only when none answers, and
stopped again by whoever started it for a while (the demo)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from workers.demo.local_redis import (
    EXIT_NOT_INSTALLED,
    LocalRedisError,
    local_redis,
    main,
    redis_answers,
)

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_test_redis_answers_and_a_closed_port_does_not(redis_url: str) -> None:
    assert redis_answers(redis_url)
    assert not redis_answers(f"redis://127.0.0.1:{free_port()}/0")


def test_a_redis_that_answers_is_left_alone(redis_url: str) -> None:
    with local_redis(redis_url) as started:
        assert started is None
    assert redis_answers(redis_url)
    assert main([redis_url]) == 0


def test_a_remote_redis_that_does_not_answer_is_not_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(*_args: object, **_kwargs: object) -> socket.socket:
        raise ConnectionRefusedError  # the network seam: no packet leaves this machine

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with (
        pytest.raises(LocalRedisError, match="not local"),
        local_redis("redis://redis.example:6379"),
    ):
        pass


def test_the_command_line_says_when_redis_server_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert main([f"redis://127.0.0.1:{free_port()}/0"]) == EXIT_NOT_INSTALLED


@pytest.mark.integration
def test_a_redis_started_for_a_block_answers_in_it_and_is_stopped_after_it() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    url = f"redis://127.0.0.1:{free_port()}/0"
    with local_redis(url) as started:
        assert started is not None
        assert "stops with the demo" in started
        assert redis_answers(url)
    assert not redis_answers(url)


def test_the_services_script_starts_redis_only_through_local_redis() -> None:
    """One place starts a local Redis: the script delegates instead of running redis-server."""
    script = (ROOT / "scripts/ensure-services.sh").read_text(encoding="utf-8")
    assert "python3 -m workers.demo.local_redis" in script
    assert "redis-server --" not in script
    assert f'"$status" = {EXIT_NOT_INSTALLED}' in script
