"""The SSRF guard refuses non-public peers on the connected socket, unless allow-listed."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.test_fetch_support import LocalServer, html_route, send, serve
from workers.errors import PermanentError
from workers.fetching.http import FetchPolicy, HttpFetcher
from workers.fetching.ssrf import AddressGuard, ForbiddenAddress, is_public_address

PAGE = "<html><body><p>hello</p></body></html>"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as s:
        yield s


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.100.100.200",
        "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "224.0.0.1", "100.64.0.1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.67", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_guard_allows_listed_hosts_and_addresses_only() -> None:
    guard = AddressGuard(frozenset({"intranet.test", "10.0.0.5"}))
    guard.check("intranet.test", "10.9.9.9")
    guard.check("anything.test", "10.0.0.5")
    with pytest.raises(ForbiddenAddress):
        guard.check("other.test", "10.9.9.9")


def test_hostname_resolving_to_loopback_is_refused_before_any_byte_is_sent(
    server: LocalServer,
) -> None:
    server.routes["/a"] = html_route(PAGE)
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0))  # nothing allow-listed
    with pytest.raises(PermanentError) as err:
        fetcher.get_page(server.url("/a", host="localhost"))
    assert err.value.reason == "ssrf_refused"
    assert server.hits == []


def test_loopback_literal_is_refused_when_not_allow_listed(server: LocalServer) -> None:
    server.routes["/a"] = html_route(PAGE)
    with pytest.raises(PermanentError) as err:
        HttpFetcher(FetchPolicy(deadline=3.0)).get_page(server.url("/a"))
    assert err.value.reason == "ssrf_refused"


def test_allow_listed_address_is_fetched(server: LocalServer) -> None:
    server.routes["/a"] = html_route(PAGE)
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0, allowed_hosts=frozenset({"127.0.0.1"})))
    assert fetcher.get_page(server.url("/a")).html == PAGE


def test_redirect_hop_to_a_non_public_address_is_refused(server: LocalServer) -> None:
    """Only 'localhost' is allowed: its redirect to 127.0.0.1 (another name) must not pass."""

    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 302, b"", {"Location": server.url("/internal")})

    server.routes["/start"] = route
    server.routes["/internal"] = html_route(PAGE)
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0, allowed_hosts=frozenset({"localhost"})))
    with pytest.raises(PermanentError) as err:
        fetcher.get_page(server.url("/start", host="localhost"))
    assert err.value.reason == "ssrf_refused"
    assert server.paths() == ["/start"]
