"""Safety checks on untrusted feed and sitemap bytes before any XML parser sees them.

- Entity declarations are refused outright: no legitimate feed or sitemap declares entities, and
  they are the whole mechanism of "billion laughs" expansion bombs and external-entity (XXE)
  reads. feedparser falls back to a loose parser on malformed XML, so this is checked on the raw
  bytes (NULs removed, which also covers UTF-16/32 text) rather than trusted to one parser.
- Gzip bodies (.xml.gz sitemaps) are unpacked with an output cap, so a gzip bomb stops there.
"""

from __future__ import annotations

import re
import xml.parsers.expat
import zlib

from workers.errors import PermanentError

_ENTITY_DECL = re.compile(rb"<!entity", re.I)
_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_GZIP_MAGIC = b"\x1f\x8b"


class _RootFound(Exception):  # noqa: N818 - control flow inside the expat callback only
    def __init__(self, name: str) -> None:
        self.name = name


def refuse_entity_declarations(body: bytes) -> None:
    """Raise PermanentError("unsafe_xml") when the document declares any entity."""
    if _ENTITY_DECL.search(body.replace(b"\x00", b"")):
        raise PermanentError("unsafe_xml", "entity declarations are not accepted in feeds")


def root_element(body: bytes) -> str | None:
    """Local name of the root element (e.g. 'rss', 'feed', 'urlset'), or None if not XML.

    Expat reads only up to the root's start tag (so this is cheap on a 50 MB sitemap); malformed
    prologs fall back to a regex over the first bytes.
    """
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")

    def start(name: str, attrs: object) -> None:
        raise _RootFound(name.rsplit(" ", 1)[-1])

    parser.StartElementHandler = start
    try:
        for i in range(0, min(len(body), 1_048_576), 65_536):
            parser.Parse(body[i : i + 65_536], False)
    except _RootFound as found:
        return found.name
    except xml.parsers.expat.ExpatError:
        pass
    head = body[:4096].replace(b"\x00", b"")
    head = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head, flags=re.S | re.I)
    m = _ROOT.search(head)
    return m.group(2).decode("ascii") if m else None


def gunzip_capped(body: bytes, max_bytes: int) -> bytes:
    """Unpack a gzip body (returned as is when it is not gzip); PermanentError("too_large")
    past `max_bytes` of output, PermanentError("corrupt_body") on a broken stream."""
    if not body.startswith(_GZIP_MAGIC):
        return body
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decoder.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise PermanentError("corrupt_body", f"bad gzip: {exc}") from exc
    if len(out) > max_bytes or decoder.unconsumed_tail:
        raise PermanentError("too_large", f"gzip body over {max_bytes} bytes unpacked")
    return out
