"""The process types of a deployment: one per stage group, plus the scheduler.

The Procfile lists exactly these (a test keeps the two equal); `newsflow run` starts them all on
one machine. Fetch and dedup wait on the network, so they run threads; clean and classify are
CPU-bound, so they run one process per core.
"""

from __future__ import annotations

PROCESS_TYPES: dict[str, str] = {
    "fetch": "newsflow worker --queues crawl,fetch --pool threads --concurrency 16",
    "clean": "newsflow worker --queues clean --pool prefork",
    "dedup": "newsflow worker --queues dedup --pool threads --concurrency 4",
    "classify": "newsflow worker --queues classify --pool prefork",
    "scheduler": "newsflow scheduler",
}


def procfile_text() -> str:
    return "".join(f"{name}: {command}\n" for name, command in PROCESS_TYPES.items())
