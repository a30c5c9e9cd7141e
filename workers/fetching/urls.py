"""Canonical URLs: one spelling per resource, so the seen-set and dedup see one key per page.

The rules are the conservative, widely agreed ones (RFC 3986 section 6 normalisation plus dropping
well-known tracking parameters); anything that could change which page a server returns is kept.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from workers.errors import PermanentError

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Parameters that only say where a click came from; servers return the same page without them.
# Exact names, compared case-insensitively (Google, Meta, Microsoft, Mailchimp, HubSpot docs).
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc",
        "_hsmi", "hsctatracking", "mkt_tok", "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id",
        "rb_clickid", "s_cid", "wt.mc_id", "__twitter_impression", "ref_src", "ref_url", "cmpid",
        "ocid", "sr_share", "at_medium", "at_campaign", "at_custom1", "at_custom2", "smid",
        "ito", "icid", "ncid", "spm",
    }
)  # fmt: skip
# Whole families: utm_* (Google Analytics), pk_*/mtm_* (Matomo), stm_* (Sendinblue).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "stm_")

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# Characters left as they are in a path: unreserved, sub-delims, ':' '@' '/', and '%' of escapes.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Query names and values keep the sub-delims that servers commonly read literally.
_QUERY_SAFE = "-._~!$'()*,;:@/?"
_HOST_OK = re.compile(r"^[a-z0-9.\-_]+$")


def canonicalize_url(url: str) -> str:
    """Return the canonical form of an absolute http(s) URL.

    Lower-cases scheme and host (IDNA-encoded), drops the default port, user info and fragment,
    removes dot segments and normalises percent-escapes in the path, drops tracking parameters and
    sorts the rest by name (repeated names keep their order). Raises PermanentError("bad_url") for
    anything that is not a usable absolute http(s) URL. Idempotent.
    """
    if not isinstance(url, str):
        raise PermanentError("bad_url", f"not a string: {url!r}")
    raw = url.strip()
    if not raw or any(c in raw for c in "\r\n\t\x00"):
        raise PermanentError("bad_url", repr(url[:200]))
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise PermanentError("bad_url", f"{url[:200]!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise PermanentError("bad_url", f"unsupported scheme in {url[:200]!r}")
    host = _canonical_host(parts.hostname or "", url)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _canonical_path(parts.path)
    query = _canonical_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def host_of(url: str) -> str:
    """The lower-case host name of a URL ('' when it has none); the key of per-host state."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks the click (utm_source, fbclid, ...)."""
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def _canonical_host(hostname: str, url: str) -> str:
    host = hostname.rstrip(".").lower()
    if not host:
        raise PermanentError("bad_url", f"no host in {url[:200]!r}")
    if ":" in host:  # IPv6 literal; urlsplit already removed the brackets
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise PermanentError("bad_url", f"bad host in {url[:200]!r}") from exc
    if not _HOST_OK.match(host) or ".." in host:
        raise PermanentError("bad_url", f"bad host in {url[:200]!r}")
    return host


def _normalise_escapes(text: str) -> str:
    """Upper-case escapes, decode escaped unreserved characters, escape stray '%' signs."""
    text = _BAD_PERCENT.sub("%25", text)

    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else f"%{m.group(1).upper()}"

    return _ESCAPE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _canonical_path(path: str) -> str:
    if not path:
        return "/"
    path = quote(_normalise_escapes(path), safe=_PATH_SAFE)
    return _remove_dot_segments(path)


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = [
        (k, v)
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k and not is_tracking_param(k)
    ]
    pairs.sort(key=lambda kv: kv[0])  # stable: repeated names keep their relative order
    return "&".join(
        f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}"
        if v
        else quote(k, safe=_QUERY_SAFE)
        for k, v in pairs
    )
