"""Polite, bounded HTTP fetching: URL canonicalisation, SSRF guard, robots.txt, shared per-host
rate limits, charset decoding and the HTTP client that ties them together.

Module map (one concern each):
- `urls`: canonical form of a URL (the seen-set and dedup key).
- `ssrf`: refuse private / loopback / metadata addresses on the socket actually connected.
- `robots`: robots.txt rules per host, cached in Redis.
- `ratelimit`: a per-host request rate shared by every worker (GCRA in a Redis Lua script).
- `charset`: bytes to text (BOM, header, meta, then detection).
- `body`: reading a response body under a deadline and a decompressed-size cap.
- `http`: `HttpFetcher`, the client the fetch stage and the feed crawler call.
"""
