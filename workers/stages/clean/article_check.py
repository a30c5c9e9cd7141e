"""Deciding that a page is not a story: empty, an error page, a paywall stub, a listing, too short.

Each check names its reason slug (the SkipArticle reason the pipeline counts) and is written
against what such pages share everywhere (wording, shape), not against particular sites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml.html import HtmlElement

from workers.errors import SkipArticle
from workers.stages.clean.boilerplate import is_paywall_prompt
from workers.stages.clean.metadata import PageMetadata
from workers.stages.clean.text import word_units

# Below 40 words there is no story to classify or deduplicate (the shortest real news briefs,
# agency flashes, run 50-80 words); shorter extractions are menus, stubs or failed pages.
MIN_STORY_WORDS = 40
# Error pages, paywall stubs and listings carry little running text; a page with more than this
# many story words is kept even when one of their cues appears (a story *about* a 404, say).
STUB_MAX_WORDS = 150
# A listing has many teaser links (a headline of 4+ words each); 15 is above what an article's own
# related-links rail shows on most templates (5-10) and below a section front (30+).
LISTING_MIN_TEASERS = 15
# A story has a few real paragraphs; a listing's extracted text is headlines and one-line teasers.
STORY_PARAGRAPH_WORDS = 30
MIN_STORY_PARAGRAPHS = 2

_ERROR_TITLE = re.compile(
    r"\b(?:404|410|500|503|page not found|not found|file not found|page (?:does not|doesn't) exist"
    r"|no longer available|access denied|forbidden|error|oops|seite nicht gefunden"
    r"|nicht gefunden|página no encontrada|no encontrado|page introuvable|page non trouvée"
    r"|pagina non trovata|pagina niet gevonden|strona nie została znaleziona|fehler|erreur)\b",
    re.IGNORECASE,
)
_ERROR_TEXT = re.compile(
    r"\b(?:page (?:you (?:are|were) looking for|you requested)|(?:could|can)(?: ?not|n't) be found"
    r"|does not exist|has been (?:moved|removed|deleted)|no longer exists|error 404|404 error"
    r"|seite existiert nicht|nicht gefunden|no existe|n'existe pas|introuvable|non esiste)\b",
    re.IGNORECASE,
)


def _teaser_links(tree: HtmlElement) -> int:
    """Distinct links whose anchor text looks like a headline (4 to 30 words)."""
    seen: set[str] = set()
    for anchor in tree.iter("a"):
        href = anchor.get("href") or ""
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        words = len(anchor.text_content().split())
        if 4 <= words <= 30:
            seen.add(href)
    return len(seen)


def check_article(
    raw: Sequence[str],
    kept: Sequence[str],
    meta: PageMetadata,
    title: str,
    tree: HtmlElement | None = None,
) -> None:
    """Raise SkipArticle when the page is not a story; return quietly when it is.

    `raw` is the extracted text before boilerplate filtering (stub cues live in what the filter
    removes), `kept` the story paragraphs after it.
    """
    words = word_units(" ".join(kept))
    if not kept or words == 0:
        raise SkipArticle("empty", "no text left after extraction")

    if words <= STUB_MAX_WORDS:
        h1 = ""
        if tree is not None:
            h1 = next((" ".join(h.text_content().split()) for h in tree.iter("h1")), "")
        error_titled = bool(_ERROR_TITLE.search(title) or _ERROR_TITLE.search(h1))
        error_worded = bool(_ERROR_TEXT.search(" ".join(raw))) or "404" in title + h1
        if error_titled and (error_worded or words < MIN_STORY_WORDS):
            raise SkipArticle("error_page", f"title {title[:80]!r} and {words} words")
        if any(is_paywall_prompt(line) for line in raw) or meta.free_access is False:
            raise SkipArticle("paywall_stub", f"subscription prompt and only {words} words")

    long_paragraphs = sum(1 for p in kept if word_units(p) >= STORY_PARAGRAPH_WORDS)
    if tree is not None and not meta.article_typed and long_paragraphs < MIN_STORY_PARAGRAPHS:
        teasers = _teaser_links(tree)
        if meta.listing_typed or teasers >= LISTING_MIN_TEASERS:
            raise SkipArticle(
                "index_page", f"{teasers} headline links, {long_paragraphs} story paragraphs"
            )

    if words < MIN_STORY_WORDS:
        raise SkipArticle("too_short", f"{words} words (< {MIN_STORY_WORDS})")
