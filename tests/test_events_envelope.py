"""The pure half of the event stream: which trace events end an article, and their envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from workers import tracing
from workers.events.envelope import (
    ENDING_EVENTS,
    EVENT_TYPES,
    ArticleFacts,
    TerminalEvent,
    build_envelope,
    ending_status,
    stream_fields,
)
from workers.steps import StepOutcome

AT = datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC)
FACTS = ArticleFacts(
    url="https://news.example/a",
    canonical_url="https://news.example/a?c",
    title="A story",
    language="en",
    published_at="2026-11-29T08:00:00+00:00",
    label="politics",
    confidence=0.9,
    cluster_id="a1",
)


def terminal(event: str, outcome: str, facts: ArticleFacts | None = FACTS, **detail: object):
    return TerminalEvent(7, "a1", event, outcome, AT, dict(detail), facts)


def test_the_ending_events_are_the_ones_the_tracer_names() -> None:
    assert ENDING_EVENTS == {
        tracing.STORED: "stored",
        tracing.SKIPPED: "skipped",
        tracing.FAILED: "failed",
    }
    assert ending_status(tracing.STAGE_EVENTS["dedup"], StepOutcome.DUPLICATE) == "duplicate"


def test_events_that_do_not_end_an_article_have_no_status() -> None:
    assert ending_status(tracing.STAGE_EVENTS["dedup"], StepOutcome.NEW) is None
    assert ending_status(tracing.RETRYING, "retry") is None
    assert ending_status(tracing.STAGE_EVENTS["classify"], "ok") is None


def test_a_stored_article_becomes_a_cloudevents_1_0_envelope() -> None:
    envelope = build_envelope(terminal("article_stored", "stored"), "newsflow://test")
    assert envelope == {
        "specversion": "1.0",
        "id": "a1.7",
        "source": "newsflow://test",
        "type": "newsflow.article.stored",
        "subject": "a1",
        "time": "2026-11-30T12:00:01.250000Z",
        "datacontenttype": "application/json",
        "data": {
            "article_id": "a1",
            "url": "https://news.example/a",
            "canonical_url": "https://news.example/a?c",
            "title": "A story",
            "language": "en",
            "published_at": "2026-11-29T08:00:00+00:00",
            "label": "politics",
            "confidence": 0.9,
            "duplicate_of": None,
            "cluster_id": "a1",
            "status": "stored",
            "reason": None,
        },
    }
    assert envelope["type"] in EVENT_TYPES


def test_the_same_row_always_gives_the_same_event_id() -> None:
    first = build_envelope(terminal("article_stored", "stored"), "s")
    again = build_envelope(terminal("article_stored", "stored"), "s")
    assert first["id"] == again["id"] == "a1.7"


def test_time_is_utc_with_a_z_whatever_the_zone_it_was_recorded_in() -> None:
    local = AT.astimezone(timezone(timedelta(hours=2)))
    event = TerminalEvent(7, "a1", "article_stored", "stored", local, {}, FACTS)
    assert build_envelope(event, "s")["time"] == "2026-11-30T12:00:01.250000Z"


def test_status_and_reason_come_from_the_event_not_from_where_the_article_is_now() -> None:
    event = terminal("article_failed", "quarantined", reason="http_404: not found")
    data = build_envelope(event, "s")["data"]
    assert (data["status"], data["reason"]) == ("failed", "http_404: not found")
    skipped = build_envelope(terminal("article_skipped", "skipped", reason="paywall"), "s")
    assert (skipped["type"], skipped["data"]["reason"]) == ("newsflow.article.skipped", "paywall")


def test_a_duplicate_says_what_it_duplicates_even_after_the_article_was_replayed() -> None:
    replayed = ArticleFacts(url="https://copy.example/b")  # dedup columns cleared since
    event = terminal(
        "article_deduplicated", "duplicate", replayed, duplicate_of="a0", level="exact"
    )
    data = build_envelope(event, "s")["data"]
    assert data["status"] == "duplicate"
    assert data["duplicate_of"] == "a0"
    assert data["reason"] == "duplicate of a0 (exact)"


def test_an_event_whose_article_row_is_gone_still_has_its_id_and_status() -> None:
    envelope = build_envelope(terminal("article_stored", "stored", facts=None), "s")
    assert envelope["data"]["article_id"] == "a1"
    assert envelope["data"]["status"] == "stored"


def test_a_stream_entry_holds_the_envelope_and_its_type_and_id_beside_it() -> None:
    envelope = build_envelope(terminal("article_stored", "stored"), "s")
    fields = stream_fields(envelope)
    assert set(fields) == {"event", "type", "id"}
    assert json.loads(fields["event"]) == envelope
    assert (fields["type"], fields["id"]) == ("newsflow.article.stored", "a1.7")
