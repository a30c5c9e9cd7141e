"""Reading one response body within a wall-clock deadline and a decompressed-size cap.

The body is read raw (`decode_content=False`) and decompressed here with an output limit per
call (`zlib.decompressobj().decompress(data, max_length)`), so a gzip bomb never materialises more
than `max_bytes + 1` bytes, whatever its ratio. Reads use `read1`, which returns as soon as any
bytes arrive, so a server trickling one byte at a time cannot keep a read call from returning to
the deadline check.
"""

from __future__ import annotations

import time
import zlib
from typing import Protocol

from workers.errors import PermanentError, TransientError

# 64 kB per read: large enough that a 600 kB page takes ~10 calls, small enough that the deadline
# and the size cap are checked often.
CHUNK_BYTES = 65_536


class RawBody(Protocol):
    """The part of urllib3's HTTPResponse used here."""

    def read1(self, amt: int | None = None, decode_content: bool | None = None) -> bytes: ...


class Deadline:
    """A monotonic wall-clock budget for one page, across redirects, robots and body."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def check(self, url: str) -> None:
        if self.remaining() <= 0:
            raise TransientError("deadline_exceeded", f"{url} took over {self.seconds:g}s")


class _Decoder(Protocol):
    def decompress(self, data: bytes, max_length: int = 0) -> bytes: ...


class _Identity:
    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return data


class _Deflate:
    """Content-Encoding: deflate is zlib-wrapped per the RFC but raw deflate from some servers."""

    def __init__(self) -> None:
        self._obj = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._obj.decompress(data, max_length)
            except zlib.error:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._obj.decompress(data, max_length)


def _decoder_for(content_encoding: str) -> _Decoder:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if len(codings) == 1 and codings[0] == "deflate":
        return _Deflate()
    # We only advertise gzip and deflate; anything else (or stacked codings) is a broken server.
    raise PermanentError("unsupported_encoding", content_encoding)


def read_body(
    raw: RawBody,
    content_encoding: str,
    max_bytes: int,
    deadline: Deadline,
    url: str,
    truncate: bool = False,
) -> bytes:
    """Read and decode the whole body; raise PermanentError("too_large") past `max_bytes`
    (counted after decompression) and TransientError("deadline_exceeded") past the deadline.

    With `truncate`, the first `max_bytes` are returned instead of failing (robots.txt: RFC 9309
    lets a crawler ignore what lies beyond its parse limit).
    """
    decoder = _decoder_for(content_encoding)
    out = bytearray()
    while True:
        deadline.check(url)
        chunk = raw.read1(CHUNK_BYTES, decode_content=False)
        if not chunk:
            break
        try:
            data = decoder.decompress(chunk, max_bytes - len(out) + 1)
        except zlib.error as exc:
            raise PermanentError("corrupt_body", f"{url}: {exc}") from exc
        out += data
        # Output was capped at the budget + 1 byte, so input left unconsumed means "too large".
        tail: bytes = getattr(decoder, "unconsumed_tail", b"")
        if len(out) > max_bytes or tail:
            if truncate:
                return bytes(out[:max_bytes])
            raise PermanentError("too_large", f"{url}: over {max_bytes} bytes decoded")
    return bytes(out)
