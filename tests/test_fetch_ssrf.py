"""The SSRF guard refuses non-public peers on the connected socket, unless allow-listed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.test_fetch_support import LocalServer, html_route, send, serve
from workers.errors import PermanentError
from workers.fetching.http import FetchPolicy, HttpFetcher
from workers.fetching.ssrf import (
    AddressGuard,
    ForbiddenAddress,
    is_public_address,
    parse_allow_entry,
)

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


def test_guard_allows_listed_host_port_pairs_only() -> None:
    guard = AddressGuard(frozenset({"intranet.test:8080", "10.0.0.5:9000"}))
    guard.check("intranet.test", "10.9.9.9", 8080)
    guard.check("anything.test", "10.0.0.5", 9000)
    with pytest.raises(ForbiddenAddress):
        guard.check("other.test", "10.9.9.9", 8080)
    with pytest.raises(ForbiddenAddress):  # the same host on another port: another service
        guard.check("intranet.test", "10.9.9.9", 6379)


def test_a_host_without_a_port_is_allowed_on_the_web_ports_only() -> None:
    guard = AddressGuard(frozenset({"intranet.test"}))
    guard.check("intranet.test", "10.9.9.9", 80)
    guard.check("intranet.test", "10.9.9.9", 443)
    with pytest.raises(ForbiddenAddress):
        guard.check("intranet.test", "10.9.9.9", 5432)


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:8080", ("::1", 8080)),
        ("::1", ("::1", None)),
        ("Intranet.Test.", ("intranet.test", None)),
    ],
)
def test_allow_list_entries_are_host_and_optional_port(
    entry: str, parsed: tuple[str, int | None]
) -> None:
    assert parse_allow_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["a.test:http", "a.test:0", "a.test:70000"])
def test_bad_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allow-list"):
        parse_allow_entry(entry)


def test_a_closed_internal_port_is_refused_like_an_open_one(server: LocalServer) -> None:
    """No port-scan oracle: whether something listens must not change the answer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens here once the socket closes
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0))
    answers = []
    for url in (server.url("/a"), f"http://127.0.0.1:{closed_port}/a"):
        with pytest.raises(PermanentError) as err:
            fetcher.get_page(url)
        answers.append(err.value.reason)
    assert answers == ["ssrf_refused", "ssrf_refused"]
    assert server.hits == []


def test_allowing_one_local_port_does_not_open_another(server: LocalServer) -> None:
    server.routes["/a"] = html_route(PAGE)
    other = f"127.0.0.1:{server.port + 1 if server.port < 65535 else server.port - 1}"
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0, allowed_hosts=frozenset({other})))
    with pytest.raises(PermanentError) as err:
        fetcher.get_page(server.url("/a"))
    assert err.value.reason == "ssrf_refused"


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
    allowed = frozenset({f"127.0.0.1:{server.port}"})
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0, allowed_hosts=allowed))
    assert fetcher.get_page(server.url("/a")).html == PAGE


def test_redirect_hop_to_a_non_public_address_is_refused(server: LocalServer) -> None:
    """Only 'localhost' is allowed: its redirect to 127.0.0.1 (another name) must not pass."""

    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 302, b"", {"Location": server.url("/internal")})

    server.routes["/start"] = route
    server.routes["/internal"] = html_route(PAGE)
    allowed = frozenset({f"localhost:{server.port}"})
    fetcher = HttpFetcher(FetchPolicy(deadline=3.0, allowed_hosts=allowed))
    with pytest.raises(PermanentError) as err:
        fetcher.get_page(server.url("/start", host="localhost"))
    assert err.value.reason == "ssrf_refused"
    assert server.paths() == ["/start"]
