"""Story metadata from the page head: JSON-LD first, then OpenGraph/Twitter/Dublin Core meta tags,
then the visible page (h1, <title>, rel=author).

JSON-LD is written for search engines and is the most precise when present; meta tags are nearly
universal; the visible page is the last resort. Each field takes the first source that has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from workers.stages.clean.dates import to_iso8601
from workers.stages.clean.jsonld import (
    LISTING_TYPES,
    as_text,
    as_texts,
    find_article,
    jsonld_objects,
    type_names,
)
from workers.stages.clean.text import normalise_space

# Tag lists longer than this are keyword-stuffing, not the story's tags.
MAX_TAGS = 25
MAX_AUTHORS = 10
# Author strings longer than this are sentences (a bio, a caption), not names.
_MAX_AUTHOR_CHARS = 80
_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|»|·|•)\s+")
_BY_PREFIX = re.compile(r"^(?:by|von|por|par|di|door|av|af|przez|от)\s+", re.IGNORECASE)
_WORDS = re.compile(r"\w+")
# Elements that name the author in the visible page: microdata or a byline/author class.
_BYLINE_ELEMENTS = etree.XPath(
    "//*[@itemprop='author' and not(.//*[@itemprop='name'])]"
    " | //*[@itemprop='author']//*[@itemprop='name']"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' byline ')"
    " or contains(@class, 'author-name') or contains(@class, 'byline__name')"
    " or contains(@class, 'byline-name') or contains(@class, 'author__name')]"
)
# Every element _BYLINE_ELEMENTS selects has itemprop="author" or a class holding "byline" or
# "author"; testing attribute values alone is ~4x cheaper than that query (no string built per
# element) and rules it out on about half of the pages.
_BYLINE_POSSIBLE = etree.XPath(
    "boolean(//@itemprop[. = 'author'] | //@class[contains(., 'byline') or contains(., 'author')])"
)
# Text that is a sentence, a date or a count rather than a name.
_NOT_A_NAME = re.compile(r"[.!?@:;]\s|\d|https?://|[.!?]$")
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\band\b|\bund\b|\by\b|\bet\b|\be\b|&|\|)\s*")


@dataclass(frozen=True, slots=True)
class PageMetadata:
    """What the page says about itself, before the body is looked at."""

    title: str | None = None
    lead: str | None = None
    authors: tuple[str, ...] = ()
    published_at: str | None = None
    modified_at: str | None = None
    declared_language: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    top_image: str | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()
    jsonld_body: str | None = None  # articleBody (or live-blog updates) from JSON-LD
    article_typed: bool = False  # JSON-LD Article type or og:type article: the page says "story"
    listing_typed: bool = False  # JSON-LD CollectionPage/ItemList: the page says "listing"
    free_access: bool | None = None  # JSON-LD isAccessibleForFree, when declared


def _meta_map(tree: HtmlElement) -> dict[str, list[str]]:
    """Every <meta> content keyed by its lower-cased property/name/itemprop."""
    found: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if content is None or not content.strip():
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = meta.get(attr)
            if key:
                found.setdefault(key.strip().lower(), []).append(normalise_space(content))
    return found


def _first(meta: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        values = meta.get(key)
        if values:
            return values[0]
    return None


def _absolute(link: str | None, base: str | None) -> str | None:
    if not link:
        return None
    link = link.strip()
    if link.startswith("data:"):
        return None
    absolute = urljoin(base, link) if base else link
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _clean_title(title: str | None, site_name: str | None) -> str | None:
    """Drop a " | Site name" style suffix or prefix that <title> and og:title often carry."""
    if not title:
        return None
    title = normalise_space(title)
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) > 1:
        site = (site_name or "").lower()
        kept = [p for p in parts if p.lower() != site] if site else parts
        if site and len(kept) < len(parts):
            return " - ".join(kept) if kept else title
        # Unknown site name: the longest part is the headline when the others are short labels.
        longest = max(parts, key=len)
        if all(len(p.split()) <= 4 for p in parts if p is not longest):
            return longest
    return title


def _shared_word_share(a: str, b: str) -> float:
    left, right = set(_WORDS.findall(a.lower())), set(_WORDS.findall(b.lower()))
    return len(left & right) / max(1, min(len(left), len(right)))


def _visible_headline(
    headings: list[str], declared: str | None, site_name: str | None
) -> str | None:
    """The page's visible <h1> when it is the story's headline, else None.

    Pages declare an SEO title (JSON-LD headline, og:title) that often differs from the headline
    readers see ("Best Apps to Learn a Language in 2025" over "Top 10: Best Language Learning
    App"); the visible one is the article's title. The first <h1> of 2-40 words that is not the
    site's name counts when it is the page's only <h1> or shares half its words with the
    declared title (a page with several <h1>s uses them for logos and teasers too). On the 792
    WCXB dev pages, title right 80.3% -> 87.8% (benchmarks/extraction.py --metadata).
    """
    site = (site_name or "").lower()
    candidates = [h for h in headings if 2 <= len(h.split()) <= 40 and h.lower() != site]
    if not candidates:
        return None
    first = candidates[0]
    if len(headings) == 1 or (declared and _shared_word_share(first, declared) >= 0.5):
        return first
    return None


def _visible_byline(tree: HtmlElement) -> list[str]:
    """Author names from the page's visible byline, for pages that declare none.

    Elements marked as the author by schema.org microdata (itemprop=author) or by a class
    naming the byline ("byline", "author-name", ...) hold the name, after an optional "By".
    Only short, name-shaped texts (1-6 words, no sentence punctuation) are taken.
    """
    names: list[str] = []
    if not _BYLINE_POSSIBLE(tree):
        return names
    for element in _BYLINE_ELEMENTS(tree):
        text = normalise_space(element.text_content())
        text = _BY_PREFIX.sub("", text).strip(" |·•-–—:")
        if not text or len(text.split()) > 6 or _NOT_A_NAME.search(text):
            continue
        if text not in names:
            names.append(text)
        if len(names) >= MAX_AUTHORS:
            break
    return names[:1] if len(names) > 3 else names


def _visible_date(tree: HtmlElement, url: str | None) -> str | None:
    """The publication day shown on the page, for pages that declare none (YYYY-MM-DD).

    htmldate (a trafilatura dependency, imported here on first use) reads it from the URL, the
    page's date elements and its visible text; its quick search (no extensive scan of every
    text node), original date rather than last update. On the 792 WCXB dev pages, publish date
    right 67.0% -> 77.7% (trafilatura 70.7%); it costs ~10-20 ms on each page without a declared
    date. htmldate works on its own copy of the tree.
    """
    from htmldate import find_date

    try:
        found = find_date(
            tree, url=url, extensive_search=False, original_date=True, outputformat="%Y-%m-%d"
        )
    except (ValueError, TypeError, RecursionError):
        return None
    return to_iso8601(found) if isinstance(found, str) else None


def _split_authors(values: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        if value.startswith(("http://", "https://", "/")):
            continue  # article:author is often a profile URL, not a name
        for name in _AUTHOR_SPLIT.split(_BY_PREFIX.sub("", normalise_space(value))):
            name = name.strip(" .:-")
            if (
                name
                and len(name) <= _MAX_AUTHOR_CHARS
                and not name.startswith("@")
                and name.lower() not in (n.lower() for n in names)
            ):
                names.append(name)
    return tuple(names[:MAX_AUTHORS])


def _tags(values: list[str]) -> tuple[str, ...]:
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        for tag in value.split(",") if "," in value else [value]:
            tag = normalise_space(tag)
            if tag and len(tag) <= 60 and tag.lower() not in seen:
                seen.add(tag.lower())
                tags.append(tag)
    return tuple(tags[:MAX_TAGS])


def _language(value: str | None) -> str | None:
    """ISO 639-1 code out of en-US, en_GB, 'de', ..."""
    if not value:
        return None
    code = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def _jsonld_body(article: dict[str, Any]) -> str | None:
    body = article.get("articleBody")
    if isinstance(body, str) and body.strip():
        return body
    # Live blogs carry their posts as liveBlogUpdate items, each with its own headline and body.
    updates = article.get("liveBlogUpdate")
    if isinstance(updates, list):
        posts: list[str] = []
        for update in updates[:500]:
            if not isinstance(update, dict):
                continue
            for key in ("headline", "articleBody"):
                text = update.get(key)
                if isinstance(text, str) and text.strip():
                    posts.append(text.strip())
        return "\n\n".join(posts) or None
    return None


def extract_metadata(tree: HtmlElement, url: str | None = None) -> PageMetadata:
    """Collect the page's metadata from JSON-LD, meta tags and the visible page, in that order."""
    objects = jsonld_objects(tree)
    article = find_article(objects) or {}
    meta = _meta_map(tree)
    head_link = {(link.get("rel") or "").lower(): link.get("href") for link in tree.iter("link")}

    site_name = _first(meta, "og:site_name", "application-name", "twitter:site") or None
    publisher = article.get("publisher")
    if not site_name and publisher is not None:
        site_name = as_text(publisher)
    if site_name and site_name.startswith("@"):
        site_name = site_name[1:]

    headings = [
        text for text in (normalise_space(h.text_content()) for h in tree.iter("h1")) if text
    ]
    h1 = headings[0] if headings else None
    title_tag = next((t.text_content() for t in tree.iter("title")), None)
    declared_title = _clean_title(
        as_text(article.get("headline"))
        or _first(meta, "og:title", "twitter:title", "dc.title", "title")
        or h1
        or title_tag,
        site_name,
    )
    title = _visible_headline(headings, declared_title, site_name) or declared_title

    lead = as_text(article.get("description")) or _first(
        meta, "og:description", "description", "twitter:description", "dc.description"
    )

    author_values = as_texts(article.get("author")) or (
        meta.get("author", [])
        + meta.get("article:author", [])
        + meta.get("dc.creator", [])
        + meta.get("sailthru.author", [])
        + meta.get("parsely-author", [])
    )
    if not author_values:
        author_values = [
            normalise_space(a.text_content()) for a in tree.xpath("//a[@rel='author']")
        ]
    if not author_values:
        author_values = _visible_byline(tree)

    published = to_iso8601(
        as_text(article.get("datePublished"))
        or _first(
            meta,
            "article:published_time",
            "datepublished",
            "og:published_time",
            "pubdate",
            "publishdate",
            "publish-date",
            "date",
            "dc.date",
            "dc.date.issued",
            "dcterms.created",
            "sailthru.date",
            "parsely-pub-date",
        )
        or next((t.get("datetime") for t in tree.iter("time") if t.get("datetime")), None)
    )
    if published is None:
        published = _visible_date(tree, url)
    modified = to_iso8601(
        as_text(article.get("dateModified"))
        or _first(
            meta, "article:modified_time", "og:updated_time", "datemodified", "dcterms.modified"
        )
    )

    base = url
    canonical = _absolute(head_link.get("canonical"), base) or _absolute(
        _first(meta, "og:url") or as_text(article.get("mainEntityOfPage")), base
    )

    image = _first(meta, "og:image", "og:image:url", "og:image:secure_url", "twitter:image")
    top_image = _absolute(image or as_text(article.get("image")), canonical or base)

    section = as_text(article.get("articleSection")) or _first(
        meta, "article:section", "section", "parsely-section"
    )

    keywords = article.get("keywords")
    tag_values = meta.get("article:tag", []) + as_texts(keywords)
    if not tag_values:
        tag_values = meta.get("news_keywords", []) + meta.get("keywords", [])

    html_lang = tree.get("lang") or tree.get("xml:lang")
    language = (
        _language(as_text(article.get("inLanguage")))
        or _language(html_lang)
        or _language(_first(meta, "og:locale", "content-language", "language", "dc.language"))
    )

    og_type = (_first(meta, "og:type") or "").lower()
    types = set().union(*(type_names(o) for o in objects)) if objects else set()
    free = article.get("isAccessibleForFree")
    free_access = None
    if isinstance(free, bool):
        free_access = free
    elif isinstance(free, str):
        free_access = free.strip().lower() not in ("false", "0", "no")

    return PageMetadata(
        title=title,
        lead=normalise_space(lead) if lead else None,
        authors=_split_authors(author_values),
        published_at=published,
        modified_at=modified,
        declared_language=language,
        canonical_url=canonical,
        site_name=normalise_space(site_name) if site_name else None,
        top_image=top_image,
        section=normalise_space(section) if section else None,
        tags=_tags(tag_values),
        jsonld_body=_jsonld_body(article) if article else None,
        article_typed=bool(article) or og_type == "article",
        listing_typed=bool(types & LISTING_TYPES) and not article,
        free_access=free_access,
    )
