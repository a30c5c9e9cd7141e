"""The clean stage: one fetched document in, the story's text and metadata out.

    clean_page(document, url=None) -> CleanedArticle   # or raises SkipArticle(reason, detail)

`document` is an HTML page or already-plain text (told apart by its markup). The HTML path parses
once, reads metadata (JSON-LD, meta tags, the visible headline and byline), cuts the page into
text blocks and keeps those a learned classifier calls story (trafilatura and the JSON-LD
articleBody as fallbacks), then filters the paragraphs; the text path splits paragraphs, takes
the headline and applies the same paragraph filter. Both end in the same not-an-article check.
Pure and deterministic: no I/O, no settings, bounded work per input.

Modules: document (input kind, size bounds), html (parsing), metadata/jsonld/dates (page
metadata), blocks/block_features/block_classifier (the block classifier and its shipped model),
body (main text: classifier and fallbacks), dom_prune + trafilatura_text (the fallback
extractor), plaintext (text input), boilerplate (paragraph filter), language, article_check
(SkipArticle reasons), text (helpers).
"""

from __future__ import annotations

from workers.errors import SkipArticle
from workers.models import CleanedArticle
from workers.stages.clean.article_check import check_article
from workers.stages.clean.body import extract_paragraphs
from workers.stages.clean.boilerplate import filter_paragraphs
from workers.stages.clean.document import (
    MAX_HTML_CHARS,
    MAX_TEXT_CHARS,
    is_binary,
    looks_like_html,
    strip_control,
)
from workers.stages.clean.html import parse_html
from workers.stages.clean.metadata import PageMetadata, extract_metadata
from workers.stages.clean.plaintext import split_paragraphs, take_title
from workers.stages.language import detect_language

__all__ = ["clean_page"]


def clean_page(document: str, url: str | None = None) -> CleanedArticle:
    """Extract the story and its metadata from `document` (HTML or plain text).

    Raises SkipArticle with reason "empty", "not_text", "error_page", "paywall_stub",
    "index_page", "too_short" or "unparseable"; never any other exception for bad input.
    """
    if not isinstance(document, str):
        raise SkipArticle("not_text", f"expected str, got {type(document).__name__}")
    if not document or document.isspace():  # not .strip(): that copies the whole page
        raise SkipArticle("empty", "blank document")
    if is_binary(document):
        raise SkipArticle("not_text", "binary content (control characters)")
    try:
        if looks_like_html(document):
            # parse_html drops control characters itself, on the bytes (faster than on str).
            return _clean_html(document[:MAX_HTML_CHARS], url)
        return _clean_text(strip_control(document[:MAX_TEXT_CHARS]))
    except SkipArticle:
        raise
    except (RecursionError, Exception) as exc:
        # Third-party parsers (lxml, trafilatura) can still trip on inputs nobody anticipated;
        # a page that breaks them is a page we cannot clean, recorded as such instead of
        # quarantining the message after retries that cannot help.
        raise SkipArticle("unparseable", f"{type(exc).__name__}: {exc}"[:300]) from exc


def _clean_html(document: str, url: str | None) -> CleanedArticle:
    tree = parse_html(document)
    if tree is None:
        raise SkipArticle("empty", "nothing parseable in the HTML")
    meta = extract_metadata(tree, url)
    raw = extract_paragraphs(tree, url, meta)
    title = meta.title or ""
    kept = filter_paragraphs(raw, title, meta.authors)
    check_article(raw, kept, meta, title, tree)
    return _article(title, kept, meta)


def _clean_text(document: str) -> CleanedArticle:
    paragraphs = split_paragraphs(document)
    title, body = take_title(paragraphs)
    kept = filter_paragraphs(body, title)
    meta = PageMetadata(title=title)
    check_article(body, kept, meta, title)
    return _article(title, kept, meta)


def _article(title: str, paragraphs: list[str], meta: PageMetadata) -> CleanedArticle:
    text = "\n\n".join(paragraphs)
    return CleanedArticle(
        title=title,
        text=text,
        lead=meta.lead,
        authors=meta.authors,
        published_at=meta.published_at,
        modified_at=meta.modified_at,
        language=detect_language(text, meta.declared_language),
        canonical_url=meta.canonical_url,
        site_name=meta.site_name,
        top_image=meta.top_image,
        section=meta.section,
        tags=meta.tags,
    )
