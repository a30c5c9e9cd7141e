"""discover() on sitemaps: url sets, indexes, gzip, Google News, text, lastmod filtering."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from workers.discovery import discover
from workers.errors import PermanentError

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.com/a?id=1&page=2</loc><lastmod>2025-06-01</lastmod></url>
  <url><loc>https://example.com/b</loc><lastmod>2025-06-10T12:00:00+02:00</lastmod></url>
  <url><loc>https://example.com/b#again</loc></url>
  <url><loc>not a url</loc></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/sitemap-2025-06.xml.gz</loc><lastmod>2025-06-10</lastmod></sitemap>
  <sitemap><loc>https://example.com/sitemap-2019-01.xml.gz</loc><lastmod>2019-01-31</lastmod></sitemap>
</sitemapindex>"""

NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://example.com/business/rates</loc>
    <news:news>
      <news:publication><news:name>Example</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2025-06-10T08:30:00+01:00</news:publication_date>
      <news:title>Central bank holds rates</news:title>
    </news:news></url>
</urlset>"""


def test_urlset_gives_canonical_article_urls_once_with_lastmod() -> None:
    entries = discover(URLSET, "application/xml", "https://example.com/sitemap.xml", "sitemap")
    assert [(e.url, e.kind) for e in entries] == [
        ("https://example.com/a?id=1&page=2", "article"),  # the bare '&' survived
        ("https://example.com/b", "article"),
    ]
    assert entries[0].lastmod == datetime(2025, 6, 1, tzinfo=UTC)
    assert entries[1].lastmod == datetime(2025, 6, 10, 10, 0, tzinfo=UTC)


def test_sitemap_index_lists_child_sitemaps_filtered_by_lastmod() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    entries = discover(
        INDEX, "application/xml", "https://example.com/sitemap_index.xml", since=since
    )
    assert [(e.url, e.kind) for e in entries] == [
        ("https://example.com/sitemap-2025-06.xml.gz", "sitemap")
    ]


def test_google_news_sitemap_gives_title_and_publication_date() -> None:
    [entry] = discover(
        NEWS, "application/xml", "https://example.com/news-sitemap.xml", "news_sitemap"
    )
    assert entry.title == "Central bank holds rates"
    assert entry.published_at == datetime(2025, 6, 10, 7, 30, tzinfo=UTC)


def test_gzipped_sitemap_is_unpacked() -> None:
    entries = discover(gzip.compress(URLSET), "application/x-gzip", "https://example.com/s.xml.gz")
    assert len(entries) == 2


def test_gzip_bomb_sitemap_is_stopped() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 60_000_000, compresslevel=9)
    with pytest.raises(PermanentError) as err:
        discover(bomb, "application/x-gzip", "https://evil.example/s.xml.gz")
    assert err.value.reason == "too_large"


def test_sitemap_without_namespace_is_read_the_same() -> None:
    plain = URLSET.replace(b' xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"', b"")
    assert len(discover(plain, "text/xml", "https://example.com/sitemap.xml")) == 2


def test_text_sitemap_lists_one_url_per_line() -> None:
    body = b"https://example.com/a\n\nhttps://example.com/b?utm_medium=x\n# comment\n"
    entries = discover(body, "text/plain", "https://example.com/sitemap.txt", "sitemap")
    assert [e.url for e in entries] == ["https://example.com/a", "https://example.com/b"]


def test_entity_declarations_in_a_sitemap_are_refused() -> None:
    evil = URLSET.replace(b"<urlset", b'<!DOCTYPE urlset [<!ENTITY a "aaaa">]><urlset', 1)
    with pytest.raises(PermanentError) as err:
        discover(evil, "application/xml", "https://evil.example/sitemap.xml")
    assert err.value.reason == "unsafe_xml"


def test_other_xml_is_not_a_sitemap() -> None:
    with pytest.raises(PermanentError) as err:
        discover(
            b"<?xml version='1.0'?><catalog/>", "application/xml", "https://e.com/x.xml", "sitemap"
        )
    assert err.value.reason == "bad_sitemap"
