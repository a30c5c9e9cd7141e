"""fetch_article: the pure stage, with a canned-bytes fetcher at the outermost seam."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.errors import PermanentError
from workers.models import FetchedPage, SlotReservation
from workers.stages.fetch import fetch_article


class CannedFetcher:
    """Answers every URL with the same HTML and records what it was asked for."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.asked: list[str] = []
        self.slots: list[SlotReservation | None] = []

    def get_page(self, url: str, reservation: SlotReservation | None = None) -> FetchedPage:
        self.asked.append(url)
        self.slots.append(reservation)
        return FetchedPage(
            url=url,
            final_url=url,
            status=200,
            content_type="text/html",
            encoding="utf-8",
            html=self.html,
            fetched_at=datetime.now(UTC),
        )


def test_the_canonical_url_is_what_gets_fetched() -> None:
    fetcher = CannedFetcher("<p>story</p>")
    page = fetch_article("HTTPS://Example.com:443/a?utm_source=x&id=1#top", fetcher)
    assert fetcher.asked == ["https://example.com/a?id=1"]
    assert page.url == "https://example.com/a?id=1"


def test_unusable_url_is_refused_without_fetching() -> None:
    fetcher = CannedFetcher("<p>story</p>")
    with pytest.raises(PermanentError) as err:
        fetch_article("mailto:desk@example.com", fetcher)
    assert err.value.reason == "bad_url"
    assert fetcher.asked == []


def test_blank_page_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as err:
        fetch_article("https://example.com/a", CannedFetcher("  \n "))
    assert err.value.reason == "empty_body"


def test_a_reserved_slot_is_handed_to_the_fetcher() -> None:
    fetcher = CannedFetcher("<p>story</p>")
    slot = SlotReservation("example.com", 1_700_000_000.0)
    fetch_article("https://example.com/a", fetcher, slot)
    assert fetcher.slots == [slot]
