"""The seed article's shape (a scraped news page with its furniture), as plain text and as HTML.

Both forms must come out as the same story: headline as title, story paragraphs and subheading
kept, captions, credits, sponsor labels, the comment form and the "Must Read" teasers gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.models import CleanedArticle
from workers.stages.clean import clean_page

PAGES = Path(__file__).parent / "pages" / "html"

STORY_PARAGRAPHS = {
    "seed_shape_library.txt": [
        "The central library reopened on Saturday, eighteen months after a burst water main "
        "flooded its basement and forced the city to move its collection to a warehouse "
        "across town.",
        "The repairs cost $6.2 million, most of it covered by insurance. The city used the closure "
        "to move the children's collection from the basement to a new wing on the ground floor.",
        "A new wing for young readers",
        "Quint said the library would extend its weekend hours through the summer to make up for "
        "the long closure.",
    ],
    "radio_news_bridge.html": [
        "The two council members who voted against the plan said the city should have asked the "
        "state to share the cost before committing its own reserves.",
        "Work to start in the fall",
        "The city's transportation department said the work should be finished by the end of 2027, "
        "and that weekend closures would be announced at least two weeks in advance.",
    ],
}
FURNITURE = [
    "hide caption",
    "toggle caption",
    "Getty Images",
    "Sponsor Message",
    "LEAVE A REPLY",
    "Please enter your comment!",
    "Please enter your name here",
    "Must Read",
]


def _clean(name: str) -> CleanedArticle:
    return clean_page((PAGES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(STORY_PARAGRAPHS))
def test_story_paragraphs_survive_whole(name: str) -> None:
    paragraphs = _clean(name).paragraphs
    for paragraph in STORY_PARAGRAPHS[name]:
        assert paragraph in paragraphs


@pytest.mark.parametrize("name", sorted(STORY_PARAGRAPHS))
@pytest.mark.parametrize("furniture", FURNITURE)
def test_furniture_does_not_survive(name: str, furniture: str) -> None:
    assert furniture not in _clean(name).text


def test_plain_text_headline_after_breadcrumb_becomes_the_title() -> None:
    article = _clean("seed_shape_library.txt")
    assert article.title == "City library reopens after flood with a new children's wing"
    assert article.title not in article.text


def test_plain_text_teasers_after_must_read_are_cut() -> None:
    text = _clean("seed_shape_library.txt").text
    assert "Museum extends hours" not in text
    assert "Bus route changes" not in text
    assert text.endswith("to make up for the long closure.")


def test_plain_text_caption_printed_twice_is_gone_both_times() -> None:
    assert "Visitors line up outside" not in _clean("seed_shape_library.txt").text


def test_plain_text_input_is_not_sent_through_the_html_parser() -> None:
    # The HTML path would read metadata; the text path has none but the headline.
    article = _clean("seed_shape_library.txt")
    assert article.site_name is None
    assert article.canonical_url is None
    assert article.language == "en"
