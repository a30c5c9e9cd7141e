"""The command line starts fast: a command imports only what it needs.

Checked as behaviour (which modules a fresh interpreter loaded), not as a timing; the times are
in benchmarks/cli_startup.py and docs/extraction.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PAGES = Path(__file__).with_name("pages") / "html"
# Libraries that take 0.1-2 s to import and that neither `--help` nor `extract` needs.
SERVICE_LIBRARIES = ("sqlalchemy", "alembic", "celery", "kombu", "redis", "sklearn", "scipy",
                     "torch", "prometheus_client")  # fmt: skip


def modules_loaded_by(argv: list[str]) -> set[str]:
    """Run `newsflow ARGV` in a fresh interpreter; the top-level modules it had loaded."""
    code = (
        "import sys, json, contextlib, io\n"
        "from workers.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_help_loads_no_service_library_and_no_logging_stack() -> None:
    loaded = modules_loaded_by(["--help"])
    assert loaded.isdisjoint({*SERVICE_LIBRARIES, "structlog", "numpy", "lxml", "trafilatura"})


def test_extract_loads_the_clean_stage_and_no_service_library() -> None:
    loaded = modules_loaded_by(["extract", str(PAGES / "stadtblatt_de.html")])
    assert "lxml" in loaded  # it did extract
    assert loaded.isdisjoint(SERVICE_LIBRARIES)
