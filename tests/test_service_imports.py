"""A service process loads only libraries it uses: no console renderer when it logs JSON.

Checked as behaviour, the modules a fresh interpreter had loaded; the memory this saves is in
docs/performance.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def modules_loaded_by(argv: list[str], log_format: str) -> set[str]:
    """Run `newsflow ARGV` in a fresh interpreter with NEWSFLOW_LOG_FORMAT=`log_format`; the
    top-level modules it had loaded (an import blocked with a None entry is not loaded)."""
    code = (
        "import sys, json, contextlib, io\n"
        "from workers.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = {m.split('.')[0] for m, module in sys.modules.items() if module is not None}\n"
        "print(json.dumps(sorted(loaded)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, "NEWSFLOW_LOG_FORMAT": log_format},
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_service_logging_json_loads_no_console_traceback_renderer() -> None:
    """Rich and Pygments draw tracebacks and colour on a console; a JSON service never does."""
    for argv in (["run", "--only", "no-such-process"], ["worker", "--queues", "no-such-queue"]):
        loaded = modules_loaded_by(argv, "json")
        assert "structlog" in loaded  # logging was configured
        assert loaded.isdisjoint({"rich", "pygments"})
    assert "celery" in loaded  # the worker command got as far as Celery's


def test_console_logs_keep_the_rich_tracebacks() -> None:
    loaded = modules_loaded_by(["run", "--only", "no-such-process"], "console")
    assert "rich" in loaded
