"""A running worker classifies with a newly trained and activated model, without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ScriptedSite, e2e_settings
from workers.cli import build_parser
from workers.demo.server import SITE_ROOT
from workers.demo.session import start_workers, stop_processes
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings
from workers.sources import ingest_urls
from workers.stages.classify.provider import CHECK_INTERVAL

pytestmark = pytest.mark.integration

PAGES = {
    "/sport.html": SITE_ROOT / "ledger" / "sport-cup-final-late-winner.html",
    "/business.html": SITE_ROOT / "ledger" / "business-harbor-foods-merger.html",
}
# A tiny labelled set with made-up labels, so the trained model's answers are recognisable.
TRAINING = [
    (
        "on-the-pitch",
        f"Match report {i}",
        f"The striker scored twice as the team won the league game {i}.",
    )
    for i in range(20)
] + [
    (
        "in-the-markets",
        f"Company results {i}",
        f"Shares rose after the firm reported quarterly profits {i}.",
    )
    for i in range(20)
]


def wait_stored(svc: Services, article_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if svc.store.status_of(article_id) in {"stored", "failed", "skipped", "duplicate"}:
            break
        time.sleep(0.2)
    record = svc.store.get(article_id)
    assert record is not None
    assert record.status == "stored", (record.status, record.status_reason)


def test_worker_uses_a_newly_activated_model_without_restart(
    scripted_site: ScriptedSite,
    e2e_redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Any],
) -> None:
    for path, page in PAGES.items():
        scripted_site.answer(path, (200, page.read_text("utf-8"), 0.0))
    settings = e2e_settings(e2e_redis_url, sqlite_url, [scripted_site.base])
    svc = make_services(settings)
    celery = make_celery(settings)

    def ingest(path: str) -> str:
        report = ingest_urls([scripted_site.base + path], "test", svc, CeleryPublisher(celery))
        return report.queued[0]

    with (tmp_path / "workers.log").open("wb") as log:
        children = start_workers(settings, log)
        try:
            first = ingest("/sport.html")
            wait_stored(svc, first)
            before = svc.store.get(first)
            assert before is not None
            assert before.label == "sport"
            assert before.model_version is not None

            data = tmp_path / "train.jsonl"
            data.write_text(
                "".join(
                    json.dumps({"label": lab, "title": t, "text": x}) + "\n"
                    for lab, t, x in TRAINING
                )
            )
            args = build_parser().parse_args(
                [
                    "train",
                    "--data",
                    str(data),
                    "--features",
                    "words",
                    "--activate",
                    "--out",
                    str(tmp_path / "model.npz"),
                ]
            )
            assert args.func(args, settings) == 0
            # Workers look at the active-model pointer at most every CHECK_INTERVAL seconds.
            time.sleep(CHECK_INTERVAL + 0.5)

            second = ingest("/business.html")
            wait_stored(svc, second)
            after = svc.store.get(second)
            assert after is not None
            assert after.label == "in-the-markets"
            assert after.model_version != before.model_version
            assert all(child.poll() is None for child in children.values())  # never restarted
        finally:
            stop_processes(children)
