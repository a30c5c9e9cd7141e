"""A worker process as its supervisor sees it: how it exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.chaos.conftest import PLUGIN, REPO
from tests.integration.conftest import e2e_settings
from workers.demo.session import settings_env

pytestmark = pytest.mark.integration


def test_a_worker_that_dies_of_an_unrecoverable_error_exits_non_zero(
    e2e_redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """Celery logs "Unrecoverable error" and stops; the exit code must say so, or a
    restart-on-failure supervisor (systemd, Kubernetes, `newsflow run`) leaves it dead."""
    env = {
        **settings_env(e2e_settings(e2e_redis_url, sqlite_url)),
        "PYTHONPATH": os.pathsep.join([str(PLUGIN), str(REPO)]),
        "NEWSFLOW_CHAOS_BROKEN_WORKER": "1",
    }
    worker = subprocess.run(
        [sys.executable, "-m", "workers.cli", "worker", "--queues", "dedup", "--pool", "solo"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert b"Unrecoverable error" in worker.stderr
    assert worker.returncode == 1
