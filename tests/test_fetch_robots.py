"""robots.txt: disallowed pages are never requested; rules are cached in Redis for all workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.test_fetch_support import LocalServer, html_route, send, serve, text_route
from workers.adapters.ratelimit import HostRateLimiter
from workers.adapters.robots import RobotsChecker
from workers.errors import PermanentError, TransientError
from workers.fetching.http import FetchPolicy, HttpFetcher

PAGE = "<html><body><p>hello</p></body></html>"
UA = "newsflow-test/1.0"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as s:
        yield s


def make_fetcher(server: LocalServer, client: redis.Redis, prefix: str) -> HttpFetcher:
    policy = FetchPolicy(
        deadline=3.0, user_agent=UA, allowed_hosts=frozenset({f"127.0.0.1:{server.port}"})
    )
    return HttpFetcher(policy, RobotsChecker(client, prefix, UA), None)


def test_disallowed_page_is_not_fetched(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route("User-agent: *\nDisallow: /private/\n")
    server.routes["/private/a"] = html_route(PAGE)
    with pytest.raises(PermanentError) as err:
        make_fetcher(server, redis_client, key_prefix).get_page(server.url("/private/a"))
    assert err.value.reason == "robots_disallowed"
    assert server.paths() == ["/robots.txt"]


def test_rules_for_our_user_agent_apply(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route(
        "User-agent: newsflow-test\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    )
    server.routes["/a"] = html_route(PAGE)
    with pytest.raises(PermanentError):
        make_fetcher(server, redis_client, key_prefix).get_page(server.url("/a"))


def test_allowed_page_is_fetched(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route("User-agent: *\nDisallow: /private/\n")
    server.routes["/news/a"] = html_route(PAGE)
    page = make_fetcher(server, redis_client, key_prefix).get_page(server.url("/news/a"))
    assert page.html == PAGE


def test_robots_txt_is_fetched_once_for_all_workers(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route("User-agent: *\nDisallow: /private/\n")
    server.routes["/a"] = html_route(PAGE)
    make_fetcher(server, redis_client, key_prefix).get_page(server.url("/a"))
    # A second fetcher (another worker: no in-process memo) reads the rules from Redis.
    make_fetcher(server, redis_client, key_prefix).get_page(server.url("/a"))
    assert server.paths().count("/robots.txt") == 1
    assert redis_client.ttl(f"{key_prefix}:robots:{server.url('/robots.txt')}") > 0


def test_missing_robots_txt_allows_everything(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/a"] = html_route(PAGE)  # /robots.txt answers 404
    assert make_fetcher(server, redis_client, key_prefix).get_page(server.url("/a")).html == PAGE


def test_unreachable_robots_txt_postpones_the_fetch(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = lambda h: send(h, 503, b"down")
    server.routes["/a"] = html_route(PAGE)
    with pytest.raises(TransientError) as err:
        make_fetcher(server, redis_client, key_prefix).get_page(server.url("/a"))
    assert err.value.reason == "robots_unreachable"
    assert "/a" not in server.paths()


def test_redirect_into_a_disallowed_path_is_not_followed(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route("User-agent: *\nDisallow: /private/\n")
    server.routes["/go"] = lambda h: send(h, 302, b"", {"Location": "/private/x"})
    server.routes["/private/x"] = html_route(PAGE)
    with pytest.raises(PermanentError) as err:
        make_fetcher(server, redis_client, key_prefix).get_page(server.url("/go"))
    assert err.value.reason == "robots_disallowed"
    assert "/private/x" not in server.paths()


def test_sitemaps_listed_in_robots_are_exposed(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    server.routes["/robots.txt"] = text_route("Sitemap: https://example.com/news.xml\n")
    fetcher = make_fetcher(server, redis_client, key_prefix)
    assert fetcher.robots is not None
    assert fetcher.robots.sitemaps(server.url("/"), fetcher.get_robots) == [
        "https://example.com/news.xml"
    ]


def test_crawl_delay_spaces_requests_through_the_shared_limiter(
    server: LocalServer, redis_client: redis.Redis, key_prefix: str
) -> None:
    """The production wiring (robots + limiter): robots.txt is fetched once, without recursion,
    and its Crawl-delay slows the host below the configured rate."""
    server.routes["/robots.txt"] = text_route("User-agent: *\nCrawl-delay: 0.4\n")
    server.routes["/a"] = html_route(PAGE)
    policy = FetchPolicy(
        deadline=3.0, user_agent=UA, allowed_hosts=frozenset({f"127.0.0.1:{server.port}"})
    )
    limiter = HostRateLimiter(redis_client, key_prefix, default_rate=100.0)
    fetcher = HttpFetcher(policy, RobotsChecker(redis_client, key_prefix, UA), limiter)
    fetcher.get_page(server.url("/a"))
    fetcher.get_page(server.url("/a"))
    page_hits = [h.at for h in server.hits if h.path == "/a"]
    assert server.paths().count("/robots.txt") == 1
    assert page_hits[1] - page_hits[0] > 0.3
