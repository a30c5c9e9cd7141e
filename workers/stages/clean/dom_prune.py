"""Removing page furniture from the HTML tree before the main-text extractor sees it.

The extractor (trafilatura) already drops navigation, footers and forms; these are the blocks it
tends to keep on news pages: captions and credits inside figures, share bars, newsletter, cookie
and sponsor boxes, related-story rails. They are found by the class/id words templates give them.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

# Class/id words that mark a furniture block. Matched as whole words of the attribute split on
# non-letters, so "ad" matches "ad-slot" but not "header" or "download".
_FURNITURE_WORDS = frozenset(
    {
        "caption",
        "figcaption",
        "credit",
        "credits",
        "share",
        "sharing",
        "sharebar",
        "shares",
        "social",
        "socials",
        "newsletter",
        "newsletters",
        "subscribe",
        "signup",
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "sponsor",
        "sponsored",
        "promo",
        "promotion",
        "advert",
        "advertisement",
        "ad",
        "ads",
        "adslot",
        "adunit",
        "dfp",
        "outbrain",
        "taboola",
        "related",
        "recommended",
        "recommendations",
        "mostread",
        "breadcrumb",
        "breadcrumbs",
        "toolbar",
    }
)
_SPLIT = re.compile(r"[^a-z]+")
# Containers that hold the story itself are never removed, whatever their class says.
_PROTECTED_TAGS = frozenset({"html", "body", "main", "article"})
# A block holding more than this share of the page's paragraph text is the story, not furniture
# (some templates put the body inside e.g. "article-share-wrapper").
MAX_PRUNED_SHARE = 0.3
_TAGS_TO_DROP = ("figcaption",)


def _is_furniture(element: HtmlElement) -> bool:
    attrs = f"{element.get('class', '')} {element.get('id', '')}".lower()
    if not attrs.strip():
        return False
    return not _FURNITURE_WORDS.isdisjoint(_SPLIT.split(attrs))


def prune_furniture(tree: HtmlElement) -> HtmlElement:
    """Remove furniture blocks in place and return the tree."""
    body_chars = sum(len(p.text_content()) for p in tree.iter("p")) or 1
    doomed: list[HtmlElement] = []
    for element in tree.iter("div", "section", "aside", "ul", "figure", "span", "p", "figcaption"):
        if element.tag in _TAGS_TO_DROP or (
            element.tag not in _PROTECTED_TAGS and _is_furniture(element)
        ):
            doomed.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is None:
            continue  # already removed with an ancestor
        text_chars = sum(len(p.text_content()) for p in element.iter("p"))
        if text_chars / body_chars > MAX_PRUNED_SHARE:
            continue
        element.drop_tree()
    return tree
