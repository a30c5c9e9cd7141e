"""A process loads only libraries it uses: no console renderer when it logs JSON.

Checked as behaviour, the modules a fresh interpreter had loaded; the memory this saves is in
docs/performance.md.
"""

from __future__ import annotations

import os

from tests.test_cli import modules_loaded_by, top_level


def top_level_modules_loaded_by(argv: list[str], log_format: str) -> set[str]:
    """`newsflow ARGV` with NEWSFLOW_LOG_FORMAT=`log_format`: the top-level modules it loaded."""
    return top_level(modules_loaded_by(argv, {**os.environ, "NEWSFLOW_LOG_FORMAT": log_format}))


def test_a_service_logging_json_loads_no_console_traceback_renderer() -> None:
    """Rich and Pygments draw tracebacks and colour on a console; a JSON service never does."""
    for argv in (["run", "--only", "no-such-process"], ["worker", "--queues", "no-such-queue"]):
        loaded = top_level_modules_loaded_by(argv, "json")
        assert "structlog" in loaded  # logging was configured
        assert loaded.isdisjoint({"rich", "pygments"})
    assert "celery" in loaded  # the worker command got as far as Celery's


def test_an_ingest_call_logging_json_loads_no_console_traceback_renderer() -> None:
    """Its start-up is time the workers wait for the first article (~70 ms of it Rich)."""
    loaded = top_level_modules_loaded_by(["ingest"], "json")  # nothing to ingest: exits 2
    assert "structlog" in loaded
    assert loaded.isdisjoint({"rich", "pygments"})


def test_console_logs_keep_the_rich_tracebacks() -> None:
    loaded = top_level_modules_loaded_by(["run", "--only", "no-such-process"], "console")
    assert "rich" in loaded
