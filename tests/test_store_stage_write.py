"""The per-stage write's statements (workers/store/stage_write.py): what they do is specified
against the real store in tests/test_store.py; here, that SQLAlchemy can cache them. A statement
it cannot cache (a VALUES list, for one) is compiled again on every call, which cost more CPU
than the round trips the one-statement write saves (benchmarks/store_path.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workers.store import stage_write
from workers.store.stage_write import Added, IfUnset

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PAGE = {
    "final_url": "https://news.example/a",
    "http_status": 200,
    "content_type": "text/html",
    "encoding": "utf-8",
    "html": "<p>story</p>",
    "fetched_at": NOW,
}
EVENT = {
    "article_id": "a1",
    "event": "article_fetched",
    "stage": "fetch",
    "outcome": "ok",
    "duration_ms": None,
    "queue_wait_ms": 1.5,
    "attempt": 1,
    "worker": "w",
    "detail": {},
    "at": NOW,
}
# The shapes the store writes: a fetch, a classify (fill-in language, two events), a retry.
SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, int]] = {
    "fetch": ({"status": "fetched", "final_url": "u", "due_at": NOW}, PAGE, 1),
    "classify": ({"status": "stored", "language": IfUnset("en"), "label": "world"}, None, 2),
    "retry": ({"attempts": Added(1), "due_at": NOW, "status_reason": "http_503"}, None, 0),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_postgresql_write_can_be_cached(shape: str) -> None:
    values, page, events = SHAPES[shape]
    statement, _ = stage_write.move_and_record(values, "a1", "queued", page, [EVENT] * events)
    assert statement._generate_cache_key() is not None


@pytest.mark.parametrize("shape", SHAPES)
def test_the_sqlite_move_can_be_cached(shape: str) -> None:
    statement, _ = stage_write.move(SHAPES[shape][0], "a1", "queued")
    assert statement._generate_cache_key() is not None


def test_a_shape_is_built_once() -> None:
    values, page, events = SHAPES["classify"]
    first, _ = stage_write.move_and_record(values, "a1", "queued", page, [EVENT] * events)
    again, params = stage_write.move_and_record(values, "a2", "deduplicated", page, [EVENT] * 2)
    assert again is first
    assert (params["_article_id"], params["language"]) == ("a2", "en")
