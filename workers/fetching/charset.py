"""Bytes to text for web pages: which charset a body is really in.

Order, and why:
1. A byte-order mark wins (browsers do the same; a BOM is never accidental).
2. Pure ASCII decodes the same in every ASCII-compatible charset: take the declared one.
3. Bytes that are valid UTF-8 and contain multi-byte sequences are UTF-8. Legacy single-byte text
   almost never forms valid UTF-8 sequences by accident, while servers that send a stale default
   header (`charset=iso-8859-1` in front of a UTF-8 page) are common: trusting the header there
   produces mojibake, so the clean UTF-8 decode comes before the declarations.
4. The declarations (HTTP header, then `<meta charset>` / `<meta http-equiv>` / the XML
   declaration) that decode the body without error. ISO-8859-1 decodes any byte, so when the
   header and the meta disagree and both decode, charset-normalizer arbitrates between those two.
5. Detection with charset-normalizer over the whole body.
6. Last resort: the first declaration (or UTF-8) with replacement characters.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# WHATWG Encoding Standard: these labels are decoded as windows-1252 by every browser, and pages
# labelled latin-1 routinely contain 0x80-0x9F curly quotes that only windows-1252 maps.
_ALIASES = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "l1": "windows-1252",
    "ascii": "windows-1252",
    "us-ascii": "windows-1252",
    "cp1252": "windows-1252",
    "x-sjis": "shift_jis",
    "gb2312": "gbk",  # GBK is a superset; pages labelled gb2312 use GBK characters
    "ks_c_5601-1987": "euc-kr",
    "utf8": "utf-8",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# The HTML spec's prescan looks at the first 1024 bytes; real pages put the meta later than that
# behind long <head> scripts, so look further (cheap: one regex over 16 kB).
_PRESCAN_BYTES = 16_384
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.\-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.I)


def normalise_charset(label: str | None) -> str | None:
    """The Python codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    low = label.strip().strip("\"'").lower()
    low = _ALIASES.get(low, low)
    try:
        name = codecs.lookup(low).name
    except LookupError:
        return None
    return _ALIASES.get(name, name).replace("_", "-") if name != "cp1252" else "windows-1252"


def header_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, normalised."""
    if not content_type:
        return None
    m = _HEADER_CHARSET.search(content_type)
    return normalise_charset(m.group(1)) if m else None


def declared_in_document(body: bytes) -> str | None:
    """The charset a document declares about itself: XML declaration or `<meta>`, normalised."""
    head = body[:_PRESCAN_BYTES]
    for pattern in (_XML_ENCODING, _META_CHARSET):
        m = pattern.search(head)
        if m:
            found = normalise_charset(m.group(1).decode("ascii", "replace"))
            # A document cannot declare itself UTF-16 in ASCII bytes; the meta is wrong there.
            if found and not found.startswith("utf-16") and not found.startswith("utf-32"):
                return found
    return None


def decode_body(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a page body; returns (text, the codec name used). Never raises on bad bytes."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name

    declared = _unique([header_charset(content_type), declared_in_document(body)])
    if body.isascii():
        name = next((d for d in declared if _ascii_compatible(d)), "utf-8")
        return body.decode("ascii"), name

    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    clean = [d for d in declared if d != "utf-8" and _decodes(body, d)]
    if len(clean) == 1:
        return body.decode(clean[0]), clean[0]
    if len(clean) > 1:
        best = _detect(body, clean)
        name = best if best in clean else clean[0]
        return body.decode(name), name

    detected = _detect(body, None)
    if detected is not None:
        return body.decode(detected, errors="replace"), detected
    fallback = declared[0] if declared else "utf-8"
    return body.decode(fallback, errors="replace"), fallback


def _unique(names: list[str | None]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return out


def _ascii_compatible(name: str) -> bool:
    return not name.startswith(("utf-16", "utf-32"))


def _decodes(body: bytes, name: str) -> bool:
    try:
        body.decode(name)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _detect(body: bytes, among: list[str] | None) -> str | None:
    """charset-normalizer's best guess (optionally restricted to `among`), normalised."""
    matches = from_bytes(body, cp_isolation=among) if among else from_bytes(body)
    best = matches.best()
    if best is None:
        return None
    return normalise_charset(best.encoding)
