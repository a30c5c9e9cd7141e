"""The one-machine supervisor behind `newsflow run`: keeps processes up, gives up loudly."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time

from workers.processes import GIVE_UP_AFTER, PROCESS_TYPES, Supervisor, process_commands

EXITS_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]
RUNS = [sys.executable, "-c", "import time; time.sleep(60)"]


def settle(supervisor: Supervisor) -> None:
    """Wait until every started process has either exited or is running."""
    for process in supervisor.processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):  # still running: settled too
            process.wait(timeout=0.5)


def test_every_procfile_process_type_is_started_with_this_interpreter() -> None:
    commands = process_commands()
    assert list(commands) == list(PROCESS_TYPES)
    assert all(argv[:3] == [sys.executable, "-m", "workers.cli"] for argv in commands.values())


def test_a_process_that_exits_is_restarted_after_a_back_off() -> None:
    supervisor = Supervisor({"flaky": EXITS_AT_ONCE, "steady": RUNS})
    supervisor.start()
    try:
        first = supervisor.processes["flaky"].pid
        settle(supervisor)
        now = time.monotonic()
        assert supervisor.poll(now)  # noticed: restart scheduled, not yet done
        assert supervisor.processes["flaky"].pid == first
        assert supervisor.poll(now + 1.0)  # the first back-off is a second
        assert supervisor.processes["flaky"].pid != first
        assert supervisor.processes["steady"].poll() is None
    finally:
        supervisor.stop(timeout=5)


def test_a_process_that_keeps_dying_makes_the_supervisor_give_up() -> None:
    supervisor = Supervisor({"broken": EXITS_AT_ONCE})
    supervisor.start()
    now = time.monotonic()
    try:
        alive = True
        for step in range(2 * GIVE_UP_AFTER):
            settle(supervisor)
            alive = supervisor.poll(now + step * 0.1) and supervisor.poll(now + step * 0.1 + 60)
            if not alive:
                break
        assert not alive
        assert supervisor.gave_up is not None
        assert "broken exited 5 time(s)" in supervisor.gave_up
        assert "last exit code 3" in supervisor.gave_up
    finally:
        supervisor.stop(timeout=5)


def test_children_start_with_two_malloc_arenas_unless_the_operator_chose() -> None:
    """Threaded workers hold far less memory with two glibc arenas (docs/performance.md)."""
    from workers.processes import child_environment

    assert child_environment({"PATH": "/bin"})["MALLOC_ARENA_MAX"] == "2"
    assert child_environment({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"


def test_a_supervised_process_sees_the_arena_cap() -> None:
    command = [sys.executable, "-c", "import os; print(os.environ.get('MALLOC_ARENA_MAX'))"]
    with tempfile.TemporaryFile() as out:
        supervisor = Supervisor(
            {"probe": command}, env={"PATH": "/usr/bin:/bin"}, output=out, restart=False
        )
        supervisor.start()
        supervisor.processes["probe"].wait(30)
        out.seek(0)
        assert out.read().strip() == b"2"
