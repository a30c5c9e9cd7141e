"""`newsflow status`: rates and percentiles over the last minutes, queues with their oldest
message and workers, the scheduler's tick, feed health, stranded articles; `--json`, `--watch`,
and a report that survives Redis being down."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator

import pytest
import redis
from celery import Celery

from tests.stage_harness import populate_deployment
from workers.commands import status as status_command
from workers.pipeline import QUEUES
from workers.queueing import CeleryPublisher
from workers.services import Services
from workers.settings import Settings


@pytest.fixture
def deployment(
    settings: Settings,
    redis_client: redis.Redis,
    make_services: Callable[[Settings], Services],
    make_celery: Callable[[Settings], Celery],
) -> Iterator[Services]:
    keys = [*QUEUES, "unacked", "unacked_index"]
    redis_client.delete(*keys)
    svc = make_services(settings)
    populate_deployment(svc, redis_client, CeleryPublisher(make_celery(settings)))
    yield svc
    redis_client.delete(*keys)


def status(settings: Settings, *argv: str) -> None:
    parser = argparse.ArgumentParser()
    status_command.register(parser.add_subparsers())
    args = parser.parse_args(["status", *argv])
    assert args.func(args, settings) == 0


def test_json_has_rates_percentiles_workers_feeds_scheduler_and_stranded(
    deployment: Services, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status(settings, "--json", "--minutes", "10")
    report = json.loads(capsys.readouterr().out)
    assert report["window_s"] == 600
    assert report["errors"] == {}
    clean = report["stages"]["clean"]
    assert clean["outcomes"] == {"ok": 4, "skipped": 1}
    assert clean["per_minute"] == pytest.approx(0.5)
    assert clean["queue_wait_ms"]["p50"] == 2000.0
    assert clean["queue_wait_ms"]["n"] == 5
    assert clean["duration_ms"]["p95"] is not None
    # Each delivery's wait once: classify's stored events carry none.
    assert report["stages"]["classify"]["queue_wait_ms"]["n"] == 3
    assert report["queues"]["clean"] == 3
    assert report["oldest_age_s"]["clean"] < 60
    assert report["unacked_by_queue"]["clean"] == 1
    assert report["workers"]["clean"] == {"workers": 1, "processes": 1, "hosts": 1}
    assert report["workers"]["fetch"] == {"workers": 0, "processes": 0, "hosts": 0}
    assert report["scheduler"]["age_s"] < 60
    assert report["feeds"]["total"] == 3
    assert report["feeds"]["failing"] == 1
    assert report["feeds"]["troubled"][0]["reason"] == "http_500: down"
    assert report["stranded"]["queued"]["count"] == 1
    assert report["recovered"] == {"fetch": 1}
    assert report["crawl"]["polls:ok"] == 1
    assert report["articles"]["stored"] == 3


def test_the_table_shows_every_part(
    deployment: Services, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status(settings)
    out = capsys.readouterr().out
    for expected in (
        "scheduler:  last tick",
        "queue ",
        "clean ",
        "last 5 min",
        "STRANDED:",
        "feeds:      3 (3 enabled, 1 failing, 0 overdue, 0 disabled)",
        "crawls:     (total) ok=1",
    ):
        assert expected in out, expected
    clean_row = next(line for line in out.splitlines() if line.startswith("clean "))
    assert clean_row.split()[:2] == ["clean", "3"]
    assert "NO WORKER" not in clean_row


def test_watch_redraws_until_interrupted(
    deployment: Services,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_command.time, "sleep", sleep)
    status(settings, "--watch", "0.5")
    out = capsys.readouterr().out
    assert out.count("\x1b[H\x1b[2J") == 2
    assert naps == [0.5, 0.5]


def test_watch_with_json_prints_one_line_per_round(
    deployment: Services,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = iter([None, KeyboardInterrupt])

    def sleep(_: float) -> None:
        if next(rounds) is KeyboardInterrupt:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_command.time, "sleep", sleep)
    status(settings, "--watch", "--json")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(json.loads(line)["queues"]["clean"] == 3 for line in lines)


def test_with_redis_down_status_says_so_and_shows_the_store(
    settings: Settings,
    make_services: Callable[[Settings], Services],
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
    make_services(down).store.create_article("https://news.example/a")
    status(down)
    out = capsys.readouterr().out
    assert "!! redis unavailable:" in out
    assert "articles:   queued=1" in out


def test_a_window_with_more_events_than_status_reads_is_shortened_to_what_it_read(
    deployment: Services,
) -> None:
    from workers.observe import recent_events

    everything, window = recent_events(deployment.events, 600)
    assert window == 600
    newest, shorter = recent_events(deployment.events, 600, limit=5)
    assert newest == everything[:5]
    assert shorter < 600
