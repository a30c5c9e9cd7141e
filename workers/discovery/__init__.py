"""Discovery: article URLs (and child sitemaps) out of feeds and sitemaps.

`discover` is the one entry point the crawler calls with what `HttpFetcher.get_feed` returned;
`kind` says what the operator configured ("rss", "atom", "feed", "sitemap", "news_sitemap") or
"auto" to sniff the root element. Every URL returned is canonical and appears once.
"""

from __future__ import annotations

from datetime import datetime

from workers.discovery.entries import DiscoveredEntry, dedupe, keep_since
from workers.discovery.feeds import parse_feed
from workers.discovery.sitemaps import parse_sitemap
from workers.discovery.xmlsafety import gunzip_capped, refuse_entity_declarations, root_element
from workers.errors import PermanentError

__all__ = ["DiscoveredEntry", "discover"]

FEED_KINDS = frozenset({"rss", "atom", "feed"})
SITEMAP_KINDS = frozenset({"sitemap", "news_sitemap", "sitemap_index"})
_FEED_ROOTS = frozenset({"rss", "feed", "RDF", "channel"})
_SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
# The sitemaps.org limit for one uncompressed sitemap; a bigger gzip body is a bomb.
MAX_UNPACKED_BYTES = 50_000_000


def discover(
    body: bytes,
    content_type: str,
    base_url: str,
    kind: str = "auto",
    since: datetime | None = None,
) -> list[DiscoveredEntry]:
    """Entries of a feed or sitemap body, newest-first filtering by `since` (lastmod/published).

    Raises PermanentError: "unsafe_xml" (entity declarations), "too_large" (gzip bomb),
    "bad_feed" / "bad_sitemap" (not what it claims to be), "unknown_kind".
    """
    data = gunzip_capped(body, MAX_UNPACKED_BYTES)
    refuse_entity_declarations(data)
    resolved = kind.lower()
    if resolved == "auto":
        resolved = _sniff(data, content_type, base_url)
    if resolved in FEED_KINDS:
        entries = parse_feed(data, base_url, content_type)
    elif resolved in SITEMAP_KINDS:
        entries = parse_sitemap(data, base_url)
    else:
        raise PermanentError("unknown_kind", f"{base_url}: {kind!r}")
    return keep_since(dedupe(entries), since)


def _sniff(data: bytes, content_type: str, base_url: str) -> str:
    root = root_element(data)
    if root in _SITEMAP_ROOTS:
        return "sitemap"
    if root in _FEED_ROOTS:
        return "feed"
    if root is None and content_type.split(";", 1)[0].strip().lower() == "text/plain":
        return "sitemap"  # a text sitemap: one URL per line
    raise PermanentError("bad_feed", f"{base_url}: neither a feed nor a sitemap (<{root}>)")
