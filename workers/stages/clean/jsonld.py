"""Reading schema.org JSON-LD blocks: finding the article object among whatever a page declares.

Publishers put several objects in one page (WebSite, Organization, BreadcrumbList, the article),
sometimes nested in `@graph`, sometimes as a list, sometimes with trailing commas or raw newlines
in strings. We collect every object, then pick the one that describes the story.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lxml.html import HtmlElement

ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "askpublicnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "report",
        "scholarlyarticle",
        "techarticle",
        "medicalscholarlyarticle",
    }
)
# Types that describe a listing rather than one story (used by the index-page check).
LISTING_TYPES = frozenset({"collectionpage", "itemlist", "searchresultspage", "profilepage"})

# A JSON-LD block above 1 MB is not metadata; skipping it bounds the json.loads cost.
_MAX_BLOCK_CHARS = 1_000_000
# Nesting deeper than this is never a real article description; it bounds the walk.
_MAX_DEPTH = 8
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _load(raw: str) -> Any:
    try:
        return json.loads(raw, strict=False)
    except ValueError:
        pass
    try:
        # The commonest hand-written JSON-LD mistake is a trailing comma before } or ].
        return json.loads(_TRAILING_COMMA.sub(r"\1", raw), strict=False)
    except ValueError:
        return None


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, depth + 1)
    elif isinstance(node, dict):
        yield node
        graph = node.get("@graph")
        if graph is not None:
            yield from _walk(graph, depth + 1)
        main = node.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _walk(main, depth + 1)


def type_names(obj: dict[str, Any]) -> set[str]:
    """The lower-cased @type names of one object (a string or a list in the wild)."""
    kind = obj.get("@type")
    names = kind if isinstance(kind, list) else [kind]
    return {n.rsplit("/", 1)[-1].lower() for n in names if isinstance(n, str)}


def jsonld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object declared in the page, flattened out of lists and @graph."""
    objects: list[dict[str, Any]] = []
    for script in tree.iter("script"):
        kind = (script.get("type") or "").lower()
        if "ld+json" not in kind:
            continue
        raw = script.text or ""
        if not raw.strip() or len(raw) > _MAX_BLOCK_CHARS:
            continue
        objects.extend(_walk(_load(raw.strip().rstrip(";"))))
    return objects


def find_article(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The object describing the story: an Article subtype, the one with the longest body first."""
    articles = [o for o in objects if type_names(o) & ARTICLE_TYPES]
    if not articles:
        return None

    def body_len(obj: dict[str, Any]) -> int:
        body = obj.get("articleBody")
        return len(body) if isinstance(body, str) else 0

    # Prefer the object that carries a body, then one with a headline (a real article object
    # rather than a stub nested inside a WebPage).
    return max(articles, key=lambda o: (body_len(o), "headline" in o))


def as_text(value: Any) -> str | None:
    """A plain string out of a JSON-LD value: a string, a dict with name/@value, or a list."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        for key in ("name", "@value", "url", "@id"):
            text = as_text(value.get(key))
            if text:
                return text
    if isinstance(value, list) and value:
        return as_text(value[0])
    return None


def as_texts(value: Any) -> list[str]:
    """All strings out of a JSON-LD value that may be one item or a list of them."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items[:50]:
        text = as_text(item)
        if text:
            out.append(text)
    return out
