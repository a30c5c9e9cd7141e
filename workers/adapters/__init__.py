"""Adapters: the effects stages reach through small interfaces. Every Redis-backed piece of
shared state lives here, one module each: the dedup index, deferred deliveries, the URL
seen-set, the stage guard and heartbeats, robots.txt rules, per-host rate limits, crawl
counters and the model registry (the broker itself is Celery's)."""
