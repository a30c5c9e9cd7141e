"""discover() on RSS and Atom feeds, including hostile ones."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from workers.discovery import DiscoveredEntry, discover
from workers.errors import PermanentError

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Example News</title><link>https://example.com/</link>
<item><title>Budget vote delayed</title><link>https://example.com/politics/budget?utm_source=rss</link>
  <pubDate>Tue, 10 Jun 2025 04:00:00 GMT</pubDate></item>
<item><title>Relative link</title><link>/sport/final</link>
  <pubDate>Mon, 09 Jun 2025 18:30:00 +0200</pubDate></item>
<item><title>No link, permalink guid</title><guid>https://example.com/tech/chips</guid></item>
<item><title>Nothing usable</title><guid isPermaLink="false">urn:uuid:1234</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title><id>urn:x</id>
<updated>2025-06-10T10:00:00Z</updated>
<entry><title>Entry one</title><id>urn:1</id><link rel="alternate" href="https://example.org/a/1"/>
  <published>2025-06-10T08:00:00+02:00</published><updated>2025-06-10T09:00:00Z</updated></entry>
</feed>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>https://example.com/a</link></item></channel></rss>"""


def test_rss_items_become_canonical_entries_with_dates() -> None:
    entries = discover(RSS, "application/rss+xml", "https://example.com/feed.xml", "rss")
    assert [e.url for e in entries] == [
        "https://example.com/politics/budget",
        "https://example.com/sport/final",
        "https://example.com/tech/chips",
    ]
    assert entries[0].title == "Budget vote delayed"
    assert entries[0].published_at == datetime(2025, 6, 10, 4, 0, tzinfo=UTC)
    assert entries[1].published_at == datetime(2025, 6, 9, 16, 30, tzinfo=UTC)


def test_atom_entries_use_the_alternate_link_and_both_dates() -> None:
    [entry] = discover(ATOM, "application/atom+xml", "https://example.org/atom", "atom")
    assert entry == DiscoveredEntry(
        url="https://example.org/a/1",
        title="Entry one",
        published_at=datetime(2025, 6, 10, 6, 0, tzinfo=UTC),
        lastmod=datetime(2025, 6, 10, 9, 0, tzinfo=UTC),
    )


def test_feed_kind_is_sniffed_when_auto() -> None:
    assert len(discover(ATOM, "text/xml", "https://example.org/atom")) == 1


def test_entries_older_than_since_are_dropped_and_undated_kept() -> None:
    since = datetime(2025, 6, 10, 0, 0, tzinfo=UTC)
    entries = discover(RSS, "application/rss+xml", "https://example.com/feed.xml", since=since)
    assert [e.url for e in entries] == [
        "https://example.com/politics/budget",
        "https://example.com/tech/chips",
    ]


def test_entity_expansion_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(PermanentError) as err:
        discover(BILLION_LAUGHS, "application/rss+xml", "https://evil.example/feed")
    assert err.value.reason == "unsafe_xml"
    # Refused before expanding anything: expanded, the bomb takes minutes and gigabytes.
    assert time.monotonic() - started < 10.0


def test_entity_bomb_in_utf16_is_refused_too() -> None:
    body = BILLION_LAUGHS.replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>'
    )
    with pytest.raises(PermanentError) as err:
        discover(body.decode().encode("utf-16"), "application/rss+xml", "https://evil.example/feed")
    assert err.value.reason == "unsafe_xml"


def test_external_entity_is_refused() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&x;</title><link>https://e.com/a</link></item></channel></rss>"""
    with pytest.raises(PermanentError) as err:
        discover(xxe, "application/rss+xml", "https://evil.example/feed", "rss")
    assert err.value.reason == "unsafe_xml"


def test_public_doctype_without_entities_still_parses() -> None:
    rss091 = RSS.replace(
        b"<rss ",
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss ',
    )
    assert len(discover(rss091, "application/rss+xml", "https://example.com/feed.xml")) == 3


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(PermanentError) as err:
        discover(b"<html><body>hello</body></html>", "text/html", "https://example.com/")
    assert err.value.reason == "bad_feed"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(PermanentError) as err:
        discover(RSS, "application/rss+xml", "https://example.com/feed.xml", "podcast")
    assert err.value.reason == "unknown_kind"
