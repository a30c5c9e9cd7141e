"""`newsflow events`: tail prints envelopes (filtered, counted, following new ones); replay sends
past events again with their own ids."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests import article_support as articles
from tests.test_cli import SERVICE_LIBRARIES, modules_loaded_by
from workers.cli import main
from workers.demo.session import settings_env
from workers.events.relay import StreamWriter, relay_batch
from workers.events.stream import event_types, parse_since
from workers.settings import Settings
from workers.store import ArticleStore, open_store
from workers.store.outbox import EventOutbox


@pytest.fixture
def store(settings: Settings) -> Iterator[ArticleStore]:
    real = open_store(settings.database_url)
    yield real
    real.engine.dispose()


def relayed(store: ArticleStore, client: redis.Redis, settings: Settings) -> None:
    writer = StreamWriter.from_settings(client, settings)
    relay_batch(EventOutbox(store.engine), writer, settings.event_source)


def cli(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
) -> list[str]:
    """`newsflow ARGV` with `settings` in the environment; the lines it printed."""
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()  # what came before is not the command's
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def test_tail_prints_one_envelope_per_line_from_the_start(
    settings: Settings,
    store: ArticleStore,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    articles.stored(store, "a1")
    articles.failed(store, "a2")
    relayed(store, redis_client, settings)
    lines = cli(settings, capsys, monkeypatch, "events", "tail", "--from", "0", "--no-follow")
    assert [json.loads(line)["subject"] for line in lines] == ["a1", "a2"]


def test_tail_filters_by_type_and_stops_after_count(
    settings: Settings,
    store: ArticleStore,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(3):
        articles.stored(store, f"s{n}")
    articles.failed(store, "f1")
    relayed(store, redis_client, settings)
    failed = cli(
        settings, capsys, monkeypatch, "events", "tail", "--from", "0", "--no-follow",
        "--type", "failed",
    )  # fmt: skip
    assert [json.loads(line)["subject"] for line in failed] == ["f1"]
    two = cli(settings, capsys, monkeypatch, "events", "tail", "--from", "0", "--count", "2")
    assert [json.loads(line)["subject"] for line in two] == ["s0", "s1"]


def test_tail_follows_events_that_arrive_after_it_started(
    settings: Settings, store: ArticleStore, redis_client: redis.Redis
) -> None:
    articles.stored(store, "before")
    relayed(store, redis_client, settings)
    env = settings_env(settings)
    tail = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "events", "tail", "--count", "1"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # `tail` resolves "now" when it starts; give it that moment, then end an article.
        time.sleep(2)
        articles.stored(store, "after")
        relayed(store, redis_client, settings)
        out, _ = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert [json.loads(line)["subject"] for line in out.splitlines()] == ["after"]


def test_replay_sends_past_events_again_with_their_own_ids(
    settings: Settings,
    store: ArticleStore,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    articles.stored(store, "a1")
    articles.skipped(store, "a2")
    relayed(store, redis_client, settings)
    first = [json.loads(f[b"event"])["id"] for _, f in redis_client.xrange(settings.event_stream)]
    redis_client.delete(settings.event_stream)  # Redis restarted without persistence
    cli(settings, capsys, monkeypatch, "events", "replay", "--since", "2026-11-01T00:00:00Z")
    lines = cli(settings, capsys, monkeypatch, "events", "tail", "--from", "0", "--no-follow")
    replayed = [json.loads(line) for line in lines]
    assert [e["subject"] for e in replayed] == ["a1", "a2"]
    assert [e["id"] for e in replayed] == first
    writer = StreamWriter.from_settings(redis_client, settings)
    assert relay_batch(EventOutbox(store.engine), writer, settings.event_source).sent == 0
    assert EventOutbox(store.engine).undelivered() == 0


def test_types_are_named_short_or_in_full_and_unknown_ones_are_refused() -> None:
    assert event_types(["stored", "newsflow.article.failed"]) == {
        "newsflow.article.stored",
        "newsflow.article.failed",
    }
    with pytest.raises(ValueError, match="unknown event type"):
        event_types(["published"])


def test_since_is_an_iso_time_or_an_age() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("2026-11-29T00:00:00", now) == datetime(2026, 11, 29, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither"):
        parse_since("last week", now)


def test_tail_loads_neither_the_store_nor_celery_nor_the_models() -> None:
    loaded = modules_loaded_by(["events", "tail", "--no-follow", "--from", "0"])
    assert "redis" in loaded  # it did read the stream
    assert loaded.isdisjoint(set(SERVICE_LIBRARIES) - {"redis"})
    assert "structlog" not in loaded
