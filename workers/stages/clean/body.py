"""The main text of an HTML page: trafilatura on a pruned tree, with JSON-LD articleBody as the
fallback when the extractor finds little or nothing.

trafilatura is the strongest general extractor we have (F1 ~0.96 on the ScrapingHub benchmark);
we hand it an already-parsed and pruned tree (no second parse) and ask it not to keep comments,
which are never part of the story. Publishers' JSON-LD articleBody is exact when present, but
often truncated or missing paragraph breaks, so it only wins when the extractor fell short.
"""

from __future__ import annotations

import logging

import trafilatura
from lxml.html import HtmlElement

from workers.stages.clean.html import parse_html
from workers.stages.clean.plaintext import split_paragraphs
from workers.stages.clean.text import word_units

# trafilatura logs every page it finds nothing in at ERROR level; for us that is a normal outcome
# (the article check turns it into a SkipArticle), so its logger is kept to real failures.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# The JSON-LD body replaces the extracted text when the extractor got less than this share of it:
# below ~60% the extractor has missed whole parts (lazy-loaded paragraphs, JS templates).
JSONLD_WINS_BELOW = 0.6
# A JSON-LD body shorter than this is a teaser or a stub, not the story.
JSONLD_MIN_WORDS = 50


def _extract_with_trafilatura(tree: HtmlElement, url: str | None) -> list[str]:
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        include_images=False,
        with_metadata=False,
    )
    if document is None:
        return []
    text = getattr(document, "text", None)
    if not isinstance(text, str):
        return []
    # trafilatura's text puts one block (paragraph, heading, list item, table row) per line.
    return [line for line in text.split("\n") if line.strip()]


def _jsonld_paragraphs(body: str) -> list[str]:
    if "<" in body and ">" in body:
        # Some CMSs put the body's HTML into articleBody; read its text paragraph by paragraph.
        tree = parse_html(f"<html><body>{body}</body></html>")
        if tree is not None:
            blocks = [
                " ".join(el.text_content().split()) for el in tree.iter("p", "h2", "h3", "li")
            ]
            blocks = [b for b in blocks if b]
            if blocks:
                return blocks
    return split_paragraphs(body)


def extract_paragraphs(tree: HtmlElement, url: str | None, jsonld_body: str | None) -> list[str]:
    """The page's main-text blocks, in reading order, before boilerplate filtering."""
    extracted = _extract_with_trafilatura(tree, url)
    if not jsonld_body:
        return extracted
    fallback = _jsonld_paragraphs(jsonld_body)
    fallback_words = word_units(" ".join(fallback))
    if fallback_words < JSONLD_MIN_WORDS:
        return extracted
    if word_units(" ".join(extracted)) < JSONLD_WINS_BELOW * fallback_words:
        return fallback
    # The extractor read the same words out of the JSON-LD itself but lost its paragraph breaks.
    if len(fallback) > len(extracted) and " ".join(extracted).split() == " ".join(fallback).split():
        return fallback
    return extracted
