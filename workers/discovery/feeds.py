"""RSS 0.9x/1.0/2.0 and Atom feeds to entries, via feedparser (lenient with real-world feeds).

The bytes are checked by `xmlsafety` first (entity bombs) and handed to feedparser as a stream:
given a string, feedparser would treat it as a URL or a file path and go and read it.
"""

from __future__ import annotations

import calendar
import io
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from workers.discovery.entries import DiscoveredEntry
from workers.discovery.xmlsafety import refuse_entity_declarations
from workers.errors import PermanentError
from workers.fetching.urls import canonicalize_url


def parse_feed(body: bytes, base_url: str, content_type: str = "") -> list[DiscoveredEntry]:
    """Entries of an RSS/Atom feed, links resolved against `base_url` and canonicalised.

    Raises PermanentError("unsafe_xml") for entity declarations and PermanentError("bad_feed")
    when the body is not a feed at all. Entries without a usable http(s) link are dropped.
    """
    refuse_entity_declarations(body)
    headers = {"content-location": base_url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        resolve_relative_uris=True,
        sanitize_html=False,  # we only read links, titles and dates; sanitising costs time
    )
    if not parsed.entries and (parsed.bozo or not parsed.version):
        raise PermanentError("bad_feed", f"{base_url}: {parsed.get('bozo_exception', 'no feed')}")
    entries = []
    for item in parsed.entries:
        url = _entry_url(item, base_url)
        if url is None:
            continue
        title = (item.get("title") or "").strip() or None
        # dict.get skips FeedParserDict's deprecated updated->published aliasing (and its warning).
        published = _struct_to_datetime(dict.get(item, "published_parsed"))
        updated = _struct_to_datetime(dict.get(item, "updated_parsed"))
        entries.append(
            DiscoveredEntry(
                url=url, title=title, published_at=published or updated, lastmod=updated
            )
        )
    return entries


def _entry_url(item: Any, base_url: str) -> str | None:
    """The entry's article link: <link>, an alternate link, else a guid that is a URL."""
    alternates = [
        link.get("href") for link in item.get("links", []) if link.get("rel") in (None, "alternate")
    ]
    for raw in [item.get("link"), *alternates, item.get("id")]:
        if not raw or not isinstance(raw, str):
            continue
        try:
            return canonicalize_url(urljoin(base_url, raw.strip()))
        except PermanentError:
            continue
    return None


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    """feedparser's parsed dates are struct_time in UTC."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
