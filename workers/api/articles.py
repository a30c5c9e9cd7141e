"""`GET /api/articles/{id}` and `GET /api/articles`, as pure functions over the store.

Field names are those of the event stream's `data` (workers/events/envelope.py:
`article_data`), so a consumer that got an event can fetch the article, text included (the
claim check), and read the same fields. Bad parameters raise `ApiError(400, ...)`; the HTTP
layer turns it into a JSON error body with that status.

List parameters (all optional): `status`, `label`, `language`; `since` and `until` (ISO 8601,
the article's creation time, `since` inclusive, `until` exclusive; UTC when no offset is
given); `limit` (default 50, at most 200: larger values are capped); `cursor` (the
`next_cursor` of the previous page: opaque). Pages run newest first and never repeat or skip an
article, however many arrive between two requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from workers.events.envelope import ArticleFacts, article_data
from workers.pipeline import Status
from workers.store import ArticleRecord, ArticleStore
from workers.store.repository import ArticleQuery

DEFAULT_LIMIT: Final = 50
# One page of 200 articles without their text is ~100 kB of JSON: a fair response size.
MAX_LIMIT: Final = 200
LIST_PARAMS: Final = frozenset({"status", "label", "language", "since", "until", "limit", "cursor"})


class ApiError(Exception):
    """A request the API refuses: its HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def get_article(store: ArticleStore, article_id: str) -> dict[str, Any] | None:
    """One article in full (text included), or None when there is no such article."""
    if not article_id or len(article_id) > 64:
        return None
    record = store.get(article_id)
    if record is None:
        return None
    return {**article_summary(record), "lead": record.lead, "text": record.text}


def list_articles(store: ArticleStore, params: Mapping[str, str]) -> dict[str, Any]:
    """A page of articles (no text) matching `params`, and the cursor of the next page (None
    on the last one)."""
    query = parse_query(params)
    rows = store.browse(replace(query, limit=query.limit + 1))  # one more: is there a next?
    page = rows[: query.limit]
    next_cursor = encode_cursor(page[-1]) if len(rows) > query.limit else None
    return {"articles": [article_summary(r) for r in page], "next_cursor": next_cursor}


def article_summary(record: ArticleRecord) -> dict[str, Any]:
    """An article's fields without its text: the event payload's, and a few more."""
    facts = ArticleFacts(
        url=record.url,
        canonical_url=record.canonical_url,
        title=record.title,
        language=record.language,
        published_at=record.published_at,
        label=record.label,
        confidence=record.confidence,
        duplicate_of=record.duplicate_of,
        cluster_id=record.cluster_id,
    )
    return {
        **article_data(record.id, facts, record.status, record.status_reason),
        "source": record.source,
        "site_name": record.site_name,
        "section": record.section,
        "authors": record.authors,
        "tags": record.tags,
        "word_count": record.word_count,
        "version_of": record.version_of,
        "model_version": record.model_version,
        "failed_stage": record.failed_stage,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def parse_query(params: Mapping[str, str]) -> ArticleQuery:
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise ApiError(400, f"unknown parameter(s): {', '.join(unknown)}")
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        raise ApiError(400, f"status must be one of {', '.join(s.value for s in Status)}")
    since = _time(params, "since")
    until = _time(params, "until")
    if since and until and since >= until:
        raise ApiError(400, "since must be before until")
    return ArticleQuery(
        status=status,
        label=_text(params, "label"),
        language=_text(params, "language"),
        since=since,
        until=until,
        before=decode_cursor(params["cursor"]) if params.get("cursor") else None,
        limit=_limit(params.get("limit")),
    )


def encode_cursor(record: ArticleRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, article_id = json.loads(raw)
        return _utc(datetime.fromisoformat(created)), str(article_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(400, "cursor is not one this API gave out") from None


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, "limit must be a whole number") from None
    if limit < 1:
        raise ApiError(400, "limit must be at least 1")
    return min(limit, MAX_LIMIT)


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return _utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 time, e.g. 2026-11-30T12:00:00Z") from None


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name) or None
    if value is not None and len(value) > 64:
        raise ApiError(400, f"{name} is longer than 64 characters")
    return value


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
