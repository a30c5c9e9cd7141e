"""Sitemaps (sitemaps.org), sitemap indexes, Google News sitemaps and plain-text sitemaps.

Parsed with lxml with entity resolution, DTD loading and network access all off (and entity
declarations refused beforehand by `xmlsafety`). Elements are matched by local name: real
sitemaps use the 0.9 namespace, Google's old 0.84 one, or none, and the meaning is the same.
Unescaped '&' in <loc> is the most common sitemap bug in the wild: bare ampersands are escaped
before parsing (entity declarations are refused, so no other named entity can be meant), and
`recover=True` tolerates the rest.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from lxml import etree

from workers.discovery.entries import DiscoveredEntry, EntryKind, parse_w3c_datetime
from workers.discovery.xmlsafety import refuse_entity_declarations
from workers.errors import PermanentError
from workers.fetching.urls import canonicalize_url

_BARE_AMPERSAND = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
# sitemaps.org caps a sitemap at 50,000 URLs; twice that tolerates sloppy generators while still
# bounding the work one crawl message can create.
MAX_ENTRIES = 100_000


def parse_sitemap(body: bytes, base_url: str) -> list[DiscoveredEntry]:
    """Entries of a <urlset> (articles) or <sitemapindex> (child sitemaps), or of a text sitemap.

    Raises PermanentError("unsafe_xml") for entity declarations, PermanentError("bad_sitemap")
    when the XML has no sitemap root.
    """
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        return _parse_text(stripped, base_url)
    refuse_entity_declarations(body)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(_BARE_AMPERSAND.sub(b"&amp;", body), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise PermanentError("bad_sitemap", f"{base_url}: {exc}") from exc
    if root is None:
        raise PermanentError("bad_sitemap", f"{base_url}: not XML")
    name = etree.QName(root).localname
    if name == "urlset":
        return _entries(root, "url", "article", base_url)
    if name == "sitemapindex":
        return _entries(root, "sitemap", "sitemap", base_url)
    raise PermanentError("bad_sitemap", f"{base_url}: root element <{name}>")


def _entries(
    root: etree._Element, tag: str, kind: EntryKind, base_url: str
) -> list[DiscoveredEntry]:
    out: list[DiscoveredEntry] = []
    for node in root:
        if not isinstance(node.tag, str) or etree.QName(node).localname != tag:
            continue
        fields = _children(node)
        url = _canonical(fields.get("loc"), base_url)
        if url is None:
            continue
        lastmod = parse_w3c_datetime(fields.get("lastmod"))
        title, published = None, None
        news = _find(node, "news")
        if news is not None:
            news_fields = _children(news)
            title = (news_fields.get("title") or "").strip() or None
            published = parse_w3c_datetime(news_fields.get("publication_date"))
        out.append(DiscoveredEntry(url, title, published, lastmod, kind))
        if len(out) >= MAX_ENTRIES:
            break
    return out


def _children(node: etree._Element) -> dict[str, str]:
    """Text of the direct children by local name (first wins)."""
    found: dict[str, str] = {}
    for child in node:
        if isinstance(child.tag, str):
            found.setdefault(etree.QName(child).localname, (child.text or "").strip())
    return found


def _find(node: etree._Element, localname: str) -> etree._Element | None:
    for child in node:
        if isinstance(child.tag, str) and etree.QName(child).localname == localname:
            return child
    return None


def _canonical(loc: str | None, base_url: str) -> str | None:
    """<loc> must be absolute; a path-absolute one is resolved (a common slip), prose is not."""
    if not loc or any(c.isspace() for c in loc):
        return None
    try:
        return canonicalize_url(urljoin(base_url, loc))
    except PermanentError:
        return None


def _parse_text(body: bytes, base_url: str) -> list[DiscoveredEntry]:
    """sitemaps.org text format: one URL per line, UTF-8."""
    out: list[DiscoveredEntry] = []
    for line in body.decode("utf-8", errors="replace").splitlines():
        url = _canonical(line.strip(), base_url) if line.strip().startswith("http") else None
        if url is not None:
            out.append(DiscoveredEntry(url))
            if len(out) >= MAX_ENTRIES:
                break
    return out
