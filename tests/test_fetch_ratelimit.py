"""The per-host rate limit is shared through Redis by every worker process."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.test_fetch_support import LocalServer, html_route, send, serve
from workers.errors import TransientError
from workers.fetching.http import FetchPolicy, HttpFetcher
from workers.fetching.ratelimit import HostRateLimiter, parse_host_rates
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[1]
PAGE = "<html><body><p>hello</p></body></html>"

# A fetch worker process: waits for "go" on stdin so both start together, then fetches n pages.
WORKER = textwrap.dedent(
    """
    import sys, redis
    from workers.fetching.http import FetchPolicy, HttpFetcher
    from workers.fetching.ratelimit import HostRateLimiter
    url, redis_url, prefix, rate, n = sys.argv[1:]
    limiter = HostRateLimiter(redis.Redis.from_url(redis_url), prefix, default_rate=float(rate))
    policy = FetchPolicy(deadline=10.0, allowed_hosts=frozenset({"127.0.0.1"}))
    fetcher = HttpFetcher(policy, None, limiter)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(int(n)):
        fetcher.get_page(f"{url}?page={i}")
    print("done", flush=True)
    """
)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as s:
        yield s


@pytest.mark.integration  # two Python processes share the limiter through Redis
def test_two_worker_processes_never_exceed_the_shared_host_rate(
    server: LocalServer, redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    rate, per_worker = 5.0, 5  # 10 requests at 5/s: slots 200 ms apart, ~1.8 s in all
    server.routes["/p"] = html_route(PAGE)
    args = [
        sys.executable,
        "-c",
        WORKER,
        server.url("/p"),
        redis_url,
        key_prefix,
        str(rate),
        str(per_worker),
    ]
    workers = [
        subprocess.Popen(args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for w in workers:
            assert w.stdout is not None
            assert w.stdout.readline().strip() == "ready"
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        for w in workers:
            assert w.wait(timeout=30) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
            for pipe in (w.stdin, w.stdout):
                if pipe is not None:
                    pipe.close()
    times = sorted(h.at for h in server.hits)
    assert len(times) == 2 * per_worker
    interval = 1.0 / rate
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Scheduling jitter can shave a little off one gap; two unlimited workers would show ~0 gaps.
    assert min(gaps) > 0.6 * interval
    assert times[-1] - times[0] >= (len(times) - 1) * interval * 0.9


def test_a_wait_longer_than_max_wait_is_returned_to_the_queue(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=0.1, max_wait=1.0)
    assert limiter.acquire("slow.example") == 0.0  # first request of the host goes at once
    with pytest.raises(TransientError) as err:
        limiter.acquire("slow.example")  # the next slot is 10 s away
    assert err.value.reason == "rate_limited"
    assert err.value.retry_after is not None
    assert 8.0 < err.value.retry_after <= 10.0


def test_hosts_have_independent_slots(redis_client: redis.Redis, key_prefix: str) -> None:
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=0.1, max_wait=1.0)
    assert limiter.acquire("a.example") == 0.0
    assert limiter.acquire("b.example") == 0.0


def test_crawl_delay_can_only_slow_a_host_down(redis_client: redis.Redis, key_prefix: str) -> None:
    slept: list[float] = []
    limiter = HostRateLimiter(
        redis_client, key_prefix, default_rate=100.0, max_wait=60.0, sleep=slept.append
    )
    limiter.acquire("h.example", min_interval=5.0)
    waited = limiter.acquire("h.example", min_interval=5.0)
    # The rate alone would space the two by 10 ms; the crawl delay by 5 s, less whatever time
    # passed between the two calls (up to a second on a busy machine). Nothing really sleeps.
    assert 4.0 < waited <= 5.0
    assert slept == [waited]


def test_host_overrides_apply_to_subdomains() -> None:
    default, rates = parse_host_rates("*=2, example.com=0.5,foo.org=3")
    assert default == 2.0
    limiter_rates = {"example.com": 0.5, "foo.org": 3.0}
    assert rates == limiter_rates
    limiter = HostRateLimiter.__new__(HostRateLimiter)
    limiter.default_rate, limiter.host_rates = default, rates
    assert limiter.rate_for("www.example.com") == 0.5
    assert limiter.rate_for("example.com") == 0.5
    assert limiter.rate_for("notexample.com") == 2.0


@pytest.mark.parametrize("spec", ["example.com", "example.com=0", "a=b", "=3"])
def test_bad_host_rate_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match="bad host rate"):
        parse_host_rates(spec)


def test_limiter_is_built_from_settings(redis_client: redis.Redis, key_prefix: str) -> None:
    settings = Settings().with_overrides(key_prefix=key_prefix, fetch_host_rates="*=4,a.test=1")
    limiter = HostRateLimiter.from_settings(redis_client, settings)
    assert (limiter.default_rate, limiter.host_rates) == (4.0, {"a.test": 1.0})


def test_retry_after_from_429_holds_off_every_worker(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/busy"] = lambda h: send(h, 429, b"slow down", {"Retry-After": "30"})
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=100.0, max_wait=1.0)
    policy = FetchPolicy(deadline=3.0, allowed_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(TransientError) as err:
        HttpFetcher(policy, None, limiter).get_page(server.url("/busy"))
    assert err.value.retry_after == 30.0
    # Another worker (another limiter instance) now finds the host closed for ~30 s.
    other = HostRateLimiter(redis_client, key_prefix, default_rate=100.0, max_wait=1.0)
    started = time.monotonic()
    with pytest.raises(TransientError) as held:
        other.acquire("127.0.0.1")
    assert held.value.reason == "rate_limited"
    assert held.value.retry_after is not None
    assert held.value.retry_after > 25.0
    # Handed back at once for a retry later, instead of waiting out the 30 s here.
    assert time.monotonic() - started < 10.0
