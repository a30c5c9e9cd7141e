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
from workers.adapters.ratelimit import HostRateLimiter, parse_host_rates
from workers.errors import Deferred, TransientError
from workers.fetching.http import FetchPolicy, HttpFetcher
from workers.models import SlotReservation
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[1]
PAGE = "<html><body><p>hello</p></body></html>"

# A fetch worker process: waits for "go" on stdin so both start together, then fetches n pages.
WORKER = textwrap.dedent(
    """
    import sys, redis
    from workers.fetching.http import FetchPolicy, HttpFetcher
    from workers.adapters.ratelimit import HostRateLimiter
    url, redis_url, prefix, rate, n = sys.argv[1:]
    limiter = HostRateLimiter(redis.Redis.from_url(redis_url), prefix, default_rate=float(rate))
    from urllib.parse import urlsplit
    policy = FetchPolicy(deadline=10.0, allowed_hosts=frozenset({urlsplit(url).netloc}))
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


def test_a_wait_longer_than_max_wait_defers_the_caller_without_sleeping(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    slept: list[float] = []
    limiter = HostRateLimiter(
        redis_client, key_prefix, default_rate=0.1, max_wait=1.0, sleep=slept.append
    )
    assert limiter.acquire("slow.example") == 0.0  # first request of the host goes at once
    before = time.time()
    with pytest.raises(Deferred) as err:
        limiter.acquire("slow.example")  # the next slot is 10 s away
    assert err.value.reason == "host_busy"
    assert err.value.reservation is None  # nothing reserved unless asked
    assert 8.0 < err.value.not_before - before <= 10.5
    assert slept == []


def test_a_deferred_caller_that_reserves_gets_its_own_slot_one_interval_apart(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """A backlog of one host is spread over the host's slots, not stampeding at the next one."""
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=2.0, max_wait=0.0)
    limiter.acquire("busy.example")
    slots = []
    for _ in range(5):
        with pytest.raises(Deferred) as err:
            limiter.acquire("busy.example", reserve=True)
        assert err.value.reservation is not None
        assert err.value.reservation.host == "busy.example"
        slots.append(err.value.reservation.at)
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(slots)]
    assert gaps == [0.5] * 4
    assert slots[0] == pytest.approx(time.time() + 0.5, abs=0.2)


def test_a_reservation_is_used_instead_of_queueing_again(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=2.0, max_wait=0.0)
    limiter.acquire("h.example")
    with pytest.raises(Deferred) as err:
        limiter.acquire("h.example", reserve=True)
    held = err.value.reservation
    assert held is not None
    with pytest.raises(Deferred):  # meanwhile the line moved on behind the reservation
        limiter.acquire("h.example", reserve=True)
    time.sleep(max(0.0, held.at - time.time()) + 0.01)
    patient = HostRateLimiter(redis_client, key_prefix, default_rate=2.0, max_wait=1.0)
    assert patient.acquire("h.example", reservation=held) == 0.0  # its turn: no waiting


def test_late_reservations_still_start_one_interval_apart(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """Two deferred deliveries whose slots passed while they sat in a queue come back
    together: the second waits its interval after the first, whatever its slot said."""
    slept: list[float] = []
    limiter = HostRateLimiter(
        redis_client, key_prefix, default_rate=4.0, max_wait=1.0, sleep=slept.append
    )
    past = time.time() - 5
    limiter.acquire("h.example", reservation=SlotReservation("h.example", past))
    limiter.acquire("h.example", reservation=SlotReservation("h.example", past + 0.25))
    assert slept[0] == pytest.approx(0.25, abs=0.02)


def test_a_reservation_for_another_host_does_not_count(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=0.01, max_wait=1.0)
    limiter.acquire("a.example")
    with pytest.raises(Deferred):
        limiter.acquire("a.example", reservation=SlotReservation("b.example", time.time()))


def test_a_host_has_one_key_and_a_slot_written_before_the_upgrade_still_holds(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """Both times of a host (its slot line and its next start) share one key, so a request
    costs one read and one write in Redis. A key the previous release left (the slot line
    alone, in microseconds) is still honoured: no request sneaks in before it."""
    # 100/s (default 1/s) so the host's own interval is negligible and the wait comes from the
    # old key alone; a 5 s longest sleep (default 2 s) so that wait is slept, not deferred.
    slept: list[float] = []
    limiter = HostRateLimiter(
        redis_client, key_prefix, default_rate=100.0, max_wait=5.0, sleep=slept.append
    )
    key = f"{key_prefix}:rate:{{old.example}}"
    redis_client.set(key, str(int((time.time() + 2.0) * 1e6)), px=10_000)
    waited = limiter.acquire("old.example")
    assert 1.0 < waited <= 2.0
    assert list(redis_client.scan_iter(match=f"{key_prefix}:rate:*")) == [key.encode()]
    line, start = (int(t) for t in redis_client.get(key).split(b":"))  # type: ignore[union-attr]
    assert line == start  # the request took the next slot and started at it


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
    policy = FetchPolicy(deadline=3.0, allowed_hosts=frozenset({f"127.0.0.1:{server.port}"}))
    with pytest.raises(TransientError) as err:
        HttpFetcher(policy, None, limiter).get_page(server.url("/busy"))
    assert err.value.retry_after == 30.0
    # Another worker (another limiter instance) now finds the host closed for ~30 s.
    other = HostRateLimiter(redis_client, key_prefix, default_rate=100.0, max_wait=1.0)
    started = time.monotonic()
    before = time.time()
    with pytest.raises(Deferred) as held:
        other.acquire("127.0.0.1")
    assert held.value.reason == "host_busy"
    assert held.value.not_before - before > 25.0
    # Handed back at once, to come back later, instead of waiting out the 30 s here.
    assert time.monotonic() - started < 10.0
