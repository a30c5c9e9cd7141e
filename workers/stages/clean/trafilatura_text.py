"""trafilatura's text of a page: the clean stage's fallback when the block classifier finds too
little, run on a tree already pruned of furniture blocks.

trafilatura is the strongest general extractor we have (F1 ~0.96 on the ScrapingHub benchmark);
we hand it an already-parsed and pruned tree (no second parse) and ask it not to keep comments,
which are never part of the story. Publishers' JSON-LD articleBody is exact when present, but
often truncated or missing paragraph breaks, so it only wins when the extractor fell short.

Speed: trafilatura's full cascade runs its own extractor, then always readability (and sometimes
justext) to second-guess it; that comparison is ~40% of its time and on most article pages it
keeps the first answer. We run the fast cascade (`fast=True`: no readability/justext) first and
rerun the full one only when the fallbacks *could* have changed the answer, by trafilatura 2.3's
own rules (`compare_extraction`, the recall escalation): the text is short, the body holds
unclean elements (figure, aside, nav, ...) or no paragraph, or the page has more than twice as
much text as was extracted (readability, whose text is part of the page's, could then be chosen
for being over twice as long). See `_fallbacks_cannot_change`.

trafilatura (and, through it, numpy, py3langid and courlan: ~0.4 s) is imported on the first
extraction, so a process that never falls back never loads it.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

# trafilatura consults justext when its own text is below MIN_EXTRACTED_SIZE (250 characters) and
# falls back to its baseline below it; twice that leaves room for how we count (see below).
FAST_MIN_CHARS = 500
# Elements whose presence in the extracted body sends trafilatura to justext ("unclean" body):
# trafilatura.external.SANITIZED_XPATH in 2.3.
_UNCLEAN = etree.XPath(
    ".//aside|.//audio|.//button|.//fencedframe|.//fieldset|.//figure|.//footer|.//iframe"
    "|.//input|.//label|.//link|.//nav|.//noindex|.//noscript|.//object|.//option|.//select"
    "|.//source|.//svg|.//time"
)
_HAS_PARAGRAPH_TEXT = etree.XPath("boolean(.//p//text())")
_ALL_TEXT_CHARS = etree.XPath("string-length(normalize-space(/))")


def _page_text_chars(tree: HtmlElement) -> int:
    """Characters of the page's text without script and style, whitespace collapsed.

    An upper bound on readability's text (a part of the same text nodes, whitespace collapsed)
    and, up to a space per block boundary, on trafilatura's page measure (html2txt). Computed in
    lxml (~0.1 ms on a 90 kB page; a Python walk over the elements took 0.6 ms); removing each
    script's collapsed text afterwards can only leave a few characters too many.
    """
    hidden = sum(
        len(" ".join(element.text.split()))
        for element in tree.iter("script", "style")
        if element.text
    )
    return int(_ALL_TEXT_CHARS(tree)) - hidden


def _table_layout(tree: HtmlElement) -> bool:
    """No paragraphs, or more text in table cells than in paragraphs: trafilatura's body will
    have that shape too, which sends it to readability (see `_fallbacks_cannot_change`)."""
    paragraphs = list(tree.iter("p"))
    if not paragraphs:
        return True
    cells = list(tree.iter("td", "th"))
    if not cells:
        return False
    cell_chars = sum(len(cell.text_content()) for cell in cells)
    return cell_chars > sum(len(paragraph.text_content()) for paragraph in paragraphs)


def _fallbacks_cannot_change(body: Any, page_chars: int) -> bool:
    """True when trafilatura's readability/justext fallbacks would keep its own extraction.

    Mirrors trafilatura 2.3's `compare_extraction` and recall escalation: justext runs on short
    or unclean bodies; readability replaces a body without paragraphs or with more tables than
    paragraphs, or one less than half as long as readability's text (which is part of the page's
    text, `page_chars`); the escalation retries extractions below 20% of the page text. The body
    is measured as trafilatura measures its own (itertext joined by spaces, but after its last
    clean-ups, so never longer than its own count); both errors lean towards the full cascade.

    One difference the test cannot see: on pages where trafilatura's main pass finds under 250
    characters, its wild-text recovery keeps teaser blocks in fast mode and drops them in full
    mode; when that recovered text then passes this test, the teasers stay (our paragraph filter
    drops the usual "Read more:"/"Related" ones).
    """
    if body is None or not isinstance(body, etree._Element):
        return False
    chars = len(" ".join(body.itertext()).strip())
    if chars < FAST_MIN_CHARS or 2 * chars < page_chars:
        return False
    if _UNCLEAN(body) or not _HAS_PARAGRAPH_TEXT(body):
        return False
    return len(body.findall(".//table")) <= len(body.findall(".//p"))


class _HashOnceTuple(tuple[str, ...]):
    """A tuple that hashes its items once; a plain tuple rehashes all of them on every hash()."""

    _hash: int

    def __new__(cls, items: tuple[str, ...]) -> _HashOnceTuple:
        self = super().__new__(cls, items)
        self._hash = tuple.__hash__(self)
        return self

    def __hash__(self) -> int:
        return self._hash


@cache
def _quiet_logger() -> None:
    # trafilatura logs every page it finds nothing in at ERROR level; for us that is a normal
    # outcome (the article check turns it into a SkipArticle), so its logger is kept to real
    # failures.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


@cache
def _cache_justext_stoplist_hash() -> None:
    """Make trafilatura's justext fallback ~6 ms cheaper per call, with the same results.

    trafilatura (2.3) hands justext one tuple of every language's stopwords (154,000 words) and
    justext looks it up in an lru_cache, which hashes the whole tuple on each call: 5-7 ms, more
    than the rest of the extraction of a typical page, paid on every page where trafilatura
    consults justext (short or "unclean" bodies, the recall escalation). The same words in a
    tuple that keeps its hash give the same cache hits. Done once per process, on first use,
    and only when trafilatura still keeps the list where 2.3 does. (Worth reporting upstream.)
    """
    import trafilatura.external

    external: Any = trafilatura.external
    init = getattr(external, "jt_stoplist_init", None)
    if init is None or isinstance(getattr(external, "JT_STOPLIST", None), _HashOnceTuple):
        return
    stoplist = external.JT_STOPLIST or init()
    if isinstance(stoplist, tuple):
        external.JT_STOPLIST = _HashOnceTuple(stoplist)


def load_fallback() -> None:
    """Import trafilatura and build justext's stoplist now instead of on the first page that
    falls back. A worker calls this before it takes messages (`workers.warmup`): the two cost
    ~1.5 s of CPU together, and a clean pool process paid them on its first fallback page,
    mid-run (~4% of a clean child's CPU over a 500-page benchmark burst); a prefork parent
    that pays them before forking also shares the 154,000-word stoplist with its children."""
    _quiet_logger()
    _cache_justext_stoplist_hash()


def _bare_extraction(tree: HtmlElement, url: str | None, *, fast: bool) -> Any:
    import trafilatura

    _quiet_logger()
    return trafilatura.bare_extraction(
        tree,  # copied by trafilatura, so a second run sees the same tree
        url=url,
        fast=fast,
        include_comments=False,
        include_tables=True,
        include_images=False,
        with_metadata=False,
    )


def extract_with_trafilatura(tree: HtmlElement, url: str | None) -> list[str]:
    """trafilatura's text, from its fast cascade when the full one would give the same."""
    _cache_justext_stoplist_hash()
    document = None
    page_chars = _page_text_chars(tree)
    # Pages whose text is too short or laid out in tables fail the test after the fast run
    # anyway: they go straight to the full cascade instead of paying for both.
    if page_chars >= FAST_MIN_CHARS and not _table_layout(tree):
        document = _bare_extraction(tree, url, fast=True)
        if document is not None and not _fallbacks_cannot_change(
            getattr(document, "body", None), page_chars
        ):
            document = None
    if document is None:
        document = _bare_extraction(tree, url, fast=False)
    if document is None:
        return []
    text = getattr(document, "text", None)
    if not isinstance(text, str):
        return []
    # trafilatura's text puts one block (paragraph, heading, list item, table row) per line.
    return [line for line in text.split("\n") if line.strip()]
