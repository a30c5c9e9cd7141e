"""The fetch stage: an article URL in, a decoded HTML page out (or a taxonomy error).

Pure: the network comes in through `PageFetcher` (in production `workers.fetching.http.HttpFetcher`,
which owns robots.txt, rate limits, the SSRF guard and every cap); this function owns what an
article fetch means: which URL is asked for (the canonical one) and what counts as a usable page.
"""

from __future__ import annotations

from typing import Protocol

from workers.errors import PermanentError
from workers.fetching.urls import canonicalize_url
from workers.models import FetchedPage, SlotReservation


class PageFetcher(Protocol):
    """GETs one HTML page; raises TransientError / PermanentError / Deferred (workers.errors)."""

    def get_page(self, url: str, reservation: SlotReservation | None = None) -> FetchedPage: ...


def fetch_article(
    url: str, fetcher: PageFetcher, reservation: SlotReservation | None = None
) -> FetchedPage:
    """Fetch the article at `url` (canonicalised first) and return the decoded page.

    Raises PermanentError("bad_url") for an unusable URL, PermanentError("empty_body") for a page
    with no markup at all, and whatever the fetcher raises (TransientError / PermanentError, or
    Deferred when its host is busy; `reservation` is the slot such a deferral reserved).
    """
    canonical = canonicalize_url(url)
    page = fetcher.get_page(canonical, reservation)
    if not page.html.strip():
        raise PermanentError("empty_body", page.final_url)
    return page
