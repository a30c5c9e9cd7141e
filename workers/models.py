"""Typed values that flow between stages.

Stages take and return these; tasks serialise only ids between queues (claim check), so these
never cross the broker whole. All are frozen: a stage returns a new value, it never edits one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """What the fetch stage got back from the web for one article URL."""

    url: str  # the URL that was asked for (canonicalised)
    final_url: str  # where redirects ended
    status: int
    content_type: str
    encoding: str  # the charset the body was decoded with
    html: str  # decoded body
    fetched_at: datetime
    elapsed_ms: float = 0.0
    redirects: tuple[str, ...] = ()
    body_bytes: int = 0  # size of the body as received, after decompression (0: not measured)


@dataclass(frozen=True, slots=True)
class CleanedArticle:
    """The story alone, with its metadata, as the clean stage extracted it."""

    title: str
    text: str  # paragraphs joined by a blank line
    lead: str | None = None  # description / standfirst
    authors: tuple[str, ...] = ()
    published_at: str | None = None  # ISO 8601
    modified_at: str | None = None  # ISO 8601
    language: str | None = None  # ISO 639-1
    canonical_url: str | None = None
    site_name: str | None = None
    top_image: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p for p in self.text.split("\n\n") if p.strip())

    @property
    def word_count(self) -> int:
        return len(self.text.split())


DedupLevel = Literal["url", "exact", "near"]


@dataclass(frozen=True, slots=True)
class DedupVerdict:
    """The dedup stage's answer for one article."""

    is_duplicate: bool
    cluster_id: str  # story cluster: the first-seen article's id for a new story
    duplicate_of: str | None = None  # first-seen article id when a duplicate
    level: DedupLevel | None = None  # which check matched
    similarity: float | None = None  # Jaccard / containment estimate for near matches
    # An earlier article at the same canonical URL whose text changed: this one is its new version.
    version_of: str | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """The classify stage's answer: a topic from the operator's taxonomy, and the language."""

    label: str  # a taxonomy label name, or "uncertain"
    confidence: float
    language: str | None
    model_version: str
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def uncertain(self) -> bool:
        return self.label == UNCERTAIN


UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class SlotReservation:
    """A request slot at `host`, reserved ahead by the shared per-host rate limiter: whoever
    holds it makes its first request to `host` at or after `at` (epoch seconds, the limiter's
    clock) without asking for a slot again."""

    host: str
    at: float
