"""SSRF guard: never talk to loopback, private, link-local or cloud-metadata addresses.

The check runs on the address of the socket actually connected (`getpeername()` right after the
TCP connect, before a byte is sent), not on a DNS answer looked up beforehand, so a name that
resolves to a public address for the check and to 127.0.0.1 for the connect (DNS rebinding) is
still refused. Each redirect hop opens or reuses a guarded connection, so redirects are checked
too. Hosts or IPs in the allow-list (settings.allow_hosts) are exempt: tests and demos use it for
127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Metadata endpoints that are routable on some clouds yet must never be fetched
# (169.254.169.254 and fd00:ec2::254 are already link-local / private; Alibaba's is in 100.64/10).
_METADATA = frozenset({"100.100.100.200", "169.254.169.254", "fd00:ec2::254", "168.63.129.16"})


class ForbiddenAddress(Exception):  # noqa: N818 - an event, not a generic error; the name reads better
    """Raised from inside the connection when the peer address is not public and not allowed.

    Deliberately not an OSError or urllib3 error: neither urllib3 nor requests retries or wraps it.
    """

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        super().__init__(f"{host} connected to non-public address {address}")


def is_public_address(address: str) -> bool:
    """True when `address` is a globally routable unicast address (not private, loopback, ...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if str(ip) in _METADATA:
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


class AddressGuard:
    """Decides whether a (host name, connected address) pair may be talked to."""

    def __init__(self, allowed_hosts: frozenset[str] = frozenset()) -> None:
        self.allowed_hosts = frozenset(h.strip().lower().strip("[]") for h in allowed_hosts)

    def check(self, host: str, address: str) -> None:
        """Raise ForbiddenAddress unless the address is public or the host/address is allowed."""
        host = host.strip("[]").rstrip(".").lower()
        if is_public_address(address):
            return
        if host in self.allowed_hosts or address in self.allowed_hosts:
            return
        raise ForbiddenAddress(host, address)

    def check_socket(self, host: str, sock: socket.socket) -> None:
        """Check the peer of a freshly connected socket; close it when refused."""
        address = str(sock.getpeername()[0])
        try:
            self.check(host, address)
        except ForbiddenAddress:
            sock.close()
            raise


def guarded_pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections check their peer with `guard` after connecting."""

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            guard.check_socket(self.host, sock)
            return sock

    class GuardedHTTPSConnection(HTTPSConnection):
        # HTTPSConnection.connect calls _new_conn for the TCP socket, then wraps it in TLS with the
        # original host name for SNI and certificate checks: the guard runs before the handshake.
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            guard.check_socket(self.host, sock)
            return sock

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter whose every connection passes the SSRF guard."""

    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self._guard = guard  # set before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self._guard)
