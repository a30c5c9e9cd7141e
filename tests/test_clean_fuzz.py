"""clean_page on random and malformed input: an article or a clear SkipArticle, quickly, always."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.errors import SkipArticle
from workers.models import CleanedArticle
from workers.stages.clean import clean_page
from workers.stages.clean.document import MAX_HTML_CHARS

# One page may take at most this long, whatever it holds. Real pages take ~20 ms and a
# pathological one (a regex gone quadratic) minutes; the bound sits far from both so that a busy
# machine cannot fail it. Speed is measured in benchmarks/extraction.py, not here.
TIME_BOUND_S = 10.0

_TAGS = [
    "html",
    "head",
    "body",
    "div",
    "p",
    "span",
    "article",
    "script",
    "style",
    "table",
    "td",
    "ul",
    "li",
    "a",
    "h1",
    "figure",
    "figcaption",
    "meta",
    "title",
    "br",
    "!--",
    "![CDATA[",
]
_WORDS = [
    "the",
    "council",
    "voted",
    "Advertisement",
    "hide caption",
    "&amp;",
    "&#x0;",
    "\x00",
    "Share",
    "<",
    ">",
    '"',
    "'",
    "/",
    "=",
    "\u202e",
    "\ud7ff",
    "日本語",
    "Müller",
    "\n\n",
]

fragments = st.one_of(
    st.sampled_from(_TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(_TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(_TAGS).map(lambda t: f"<{t} class=\"x\" id='y' data-z=>"),
    st.sampled_from(_WORDS),
    st.text(max_size=40),
)
html_soup = st.lists(fragments, max_size=200).map("".join)


def _outcome(document: str) -> CleanedArticle | SkipArticle:
    start = time.perf_counter()
    try:
        result: CleanedArticle | SkipArticle = clean_page(document, "https://example.org/a")
    except SkipArticle as skip:
        result = skip
    assert time.perf_counter() - start < TIME_BOUND_S
    if isinstance(result, SkipArticle):
        assert result.reason
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_soup)
def test_malformed_html_gives_an_article_or_a_skip_in_bounded_time(document: str) -> None:
    result = _outcome(document)
    if isinstance(result, CleanedArticle):
        assert result.text.strip()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=3000))
def test_random_text_gives_an_article_or_a_skip_in_bounded_time(document: str) -> None:
    _outcome(document)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000))
def test_binary_junk_decoded_as_text_gives_a_skip_or_an_article(data: bytes) -> None:
    _outcome(data.decode("latin-1"))


def test_a_huge_page_is_cut_to_a_bounded_amount_of_work() -> None:
    paragraph = "<p>" + "The council voted again on the budget after a long night. " * 20 + "</p>"
    document = "<html><body><article>" + paragraph * 20_000 + "</article></body></html>"
    assert len(document) > 20_000_000
    article = clean_page(document, "https://example.org/a")
    # Only the first MAX_HTML_CHARS are parsed (~2 s on a busy machine; uncut, this page took 10),
    # so the story holds at most that much of the page's 24 million characters of text.
    assert 0 < len(article.text) < MAX_HTML_CHARS


def test_deeply_nested_markup_does_not_escape_as_an_error() -> None:
    document = "<div>" * 50_000 + "<p>" + "Deep text in a nest of tags. " * 30 + "</p>"
    _outcome(document)
