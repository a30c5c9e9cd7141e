"""Polite, bounded HTTP fetching: URL canonicalisation, SSRF guard, charset decoding and the
HTTP client that ties them to robots.txt and the shared per-host rate limits (those two keep
their state in Redis, so they live with the other Redis adapters in `workers.adapters`).

Module map (one concern each):
- `urls`: canonical form of a URL (the seen-set and dedup key).
- `ssrf`: refuse private / loopback / metadata addresses on the socket actually connected.
- `workers.adapters.robots`: robots.txt rules per host, cached in Redis.
- `workers.adapters.ratelimit`: a per-host request rate shared by every worker (GCRA in a Redis
  Lua script).
- `charset`: bytes to text (BOM, header, meta, then detection).
- `body`: reading a response body under a deadline and a decompressed-size cap.
- `http`: `HttpFetcher`, the client the fetch stage and the feed crawler call.
"""
