"""What discovery finds: one entry per article (or child sitemap) URL, with its dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

EntryKind = Literal["article", "sitemap"]


@dataclass(frozen=True, slots=True)
class DiscoveredEntry:
    """A URL found in a feed or sitemap. `url` is canonical (workers.fetching.urls).

    `kind` is "sitemap" for the children of a sitemap index (crawl them like feeds) and
    "article" for everything else. Dates are timezone-aware UTC, or None when not given.
    """

    url: str
    title: str | None = None
    published_at: datetime | None = None
    lastmod: datetime | None = None
    kind: EntryKind = "article"

    @property
    def newest_date(self) -> datetime | None:
        """The latest of the dates the source gave (what `since` filtering compares)."""
        dates = [d for d in (self.published_at, self.lastmod) if d is not None]
        return max(dates) if dates else None


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """Parse a W3C/ISO 8601 date or datetime ('2024-05-01', '2024-05-01T10:00:00+02:00', 'Z')
    into aware UTC; naive times are taken as UTC; None for anything unparseable."""
    if not value:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def keep_since(entries: list[DiscoveredEntry], since: datetime | None) -> list[DiscoveredEntry]:
    """Entries dated at or after `since`; undated entries are kept (the seen-set dedups them)."""
    if since is None:
        return entries
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return [e for e in entries if e.newest_date is None or e.newest_date >= since]


def dedupe(entries: list[DiscoveredEntry]) -> list[DiscoveredEntry]:
    """First entry per URL, in document order (feeds and sitemaps repeat URLs)."""
    seen: set[str] = set()
    out: list[DiscoveredEntry] = []
    for e in entries:
        if e.url not in seen:
            seen.add(e.url)
            out.append(e)
    return out
