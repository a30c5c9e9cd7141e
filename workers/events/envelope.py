"""PURE: which trace events end an article, and the CloudEvents 1.0 envelope each one becomes.

An article ends once (until an operator replays it): stored, duplicate, skipped or failed. The
store writes that end as an `events` row in the same transaction as the article's status, so
those rows are the outbox of the event stream. This module turns one such row, with the
article's facts, into the envelope consumers read; no Redis, no SQL, no settings.

The event `id` is `<article id>.<event row id>`: the same row always gives the same id, so a
consumer tells a repeat (the relay resent a batch) from a new event (the article ended again
after a replay).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

SPECVERSION: Final = "1.0"
TYPE_PREFIX: Final = "newsflow.article."

# The trace events that end an article, and the status each leaves (names from
# workers/tracing.py, spelled out here so the store can select them without importing the
# tracer; tests/test_events_envelope.py checks they agree).
ENDING_EVENTS: Final[dict[str, str]] = {
    "article_stored": "stored",
    "article_skipped": "skipped",
    "article_failed": "failed",
}
# A duplicate ends at the dedup stage: its `article_deduplicated` event has this outcome.
DEDUPLICATED_EVENT: Final = "article_deduplicated"
DUPLICATE_OUTCOME: Final = "duplicate"

STATUSES: Final[tuple[str, ...]] = ("stored", "duplicate", "skipped", "failed")
EVENT_TYPES: Final[tuple[str, ...]] = tuple(TYPE_PREFIX + s for s in STATUSES)


def ending_status(event: str, outcome: str) -> str | None:
    """The terminal status a trace event records, or None when the event ends nothing."""
    if event == DEDUPLICATED_EVENT:
        return "duplicate" if outcome == DUPLICATE_OUTCOME else None
    return ENDING_EVENTS.get(event)


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """What the store holds about an article that consumers get (never its text)."""

    url: str
    canonical_url: str | None = None
    title: str | None = None
    language: str | None = None
    published_at: str | None = None
    label: str | None = None
    confidence: float | None = None
    duplicate_of: str | None = None
    cluster_id: str | None = None


@dataclass(frozen=True, slots=True)
class TerminalEvent:
    """One terminal `events` row, with the facts of its article as the store has them now."""

    event_row_id: int
    article_id: str
    event: str
    outcome: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    article: ArticleFacts | None = None  # None only if the article row is gone

    @property
    def status(self) -> str:
        status = ending_status(self.event, self.outcome)
        if status is None:
            raise ValueError(f"{self.event}/{self.outcome} does not end an article")
        return status


def event_id(article_id: str, event_row_id: int) -> str:
    """The CloudEvents id of an event row: the same row, the same id, however often sent."""
    return f"{article_id}.{event_row_id}"


def event_type(status: str) -> str:
    return TYPE_PREFIX + status


def article_data(
    article_id: str, facts: ArticleFacts | None, status: str, reason: str | None
) -> dict[str, Any]:
    """The payload of an event, and the fields of an article in the read API (the same names,
    so a consumer can follow a claim check from one to the other)."""
    f = facts or ArticleFacts(url="")
    return {
        "article_id": article_id,
        "url": f.url,
        "canonical_url": f.canonical_url,
        "title": f.title,
        "language": f.language,
        "published_at": f.published_at,
        "label": f.label,
        "confidence": f.confidence,
        "duplicate_of": f.duplicate_of,
        "cluster_id": f.cluster_id,
        "status": status,
        "reason": reason,
    }


def event_reason(event: TerminalEvent) -> str | None:
    """Why the article ended as it did, from the event itself (the article may have moved on
    since): the skip or failure reason, or what a duplicate duplicates."""
    if event.status == "duplicate":
        of = event.detail.get("duplicate_of") or (event.article and event.article.duplicate_of)
        level = event.detail.get("level")
        return f"duplicate of {of}" + (f" ({level})" if level else "")
    reason = event.detail.get("reason")
    return str(reason) if reason is not None else None


def build_envelope(event: TerminalEvent, source: str) -> dict[str, Any]:
    """The CloudEvents 1.0 envelope (JSON format) of a terminal event. Status and reason come
    from the event; the other facts from the article as stored."""
    status = event.status
    facts = event.article
    if status == "duplicate" and facts is not None and facts.duplicate_of is None:
        # The article was replayed after it ended as a duplicate: keep what the event said.
        facts = _with_duplicate(facts, event.detail)
    return {
        "specversion": SPECVERSION,
        "id": event_id(event.article_id, event.event_row_id),
        "source": source,
        "type": event_type(status),
        "subject": event.article_id,
        "time": iso_utc(event.at),
        "datacontenttype": "application/json",
        "data": article_data(event.article_id, facts, status, event_reason(event)),
    }


def stream_fields(envelope: dict[str, Any]) -> dict[str, str]:
    """A stream entry: the whole envelope as JSON in `event`, and `type` and `id` beside it for
    consumers that filter without parsing."""
    return {
        "event": encode(envelope),
        "type": str(envelope["type"]),
        "id": str(envelope["id"]),
    }


def encode(envelope: dict[str, Any]) -> str:
    """Compact JSON, keys in envelope order: the exact bytes a webhook signs and sends."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def iso_utc(at: datetime) -> str:
    """RFC 3339 in UTC with a Z, as CloudEvents `time` wants."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _with_duplicate(facts: ArticleFacts, detail: dict[str, Any]) -> ArticleFacts:
    return replace(
        facts,
        duplicate_of=detail.get("duplicate_of"),
        cluster_id=facts.cluster_id or detail.get("cluster_id"),
    )
