"""Parsing HTML into an lxml tree that never raises on malformed input."""

from __future__ import annotations

from lxml import etree
from lxml.html import HtmlElement, HTMLParser, document_fromstring

# One parser per process: lxml parsers are reusable and creating one costs more than a small page.
# Comments and processing instructions carry no story text and only slow the later passes.
_PARSER = HTMLParser(
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
    no_network=True,
    recover=True,
    default_doctype=False,
)


def parse_html(document: str) -> HtmlElement | None:
    """Parse `document` into an HTML tree, or None when nothing parseable is in it.

    The text is encoded to UTF-8 bytes first: lxml rejects str input that carries an XML encoding
    declaration, and lone surrogates from bad decoding become '?' instead of an exception.
    """
    data = document.encode("utf-8", "replace")
    try:
        tree = document_fromstring(data, parser=_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    if not isinstance(tree, HtmlElement):
        return None
    return tree
