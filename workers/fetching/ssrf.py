"""SSRF guard: never talk to loopback, private, link-local or cloud-metadata addresses.

The check runs twice. Before connecting, on every address the host name resolves to: so a
closed internal port is refused exactly like an open one (no port-scan oracle: a refused
connection would otherwise surface as a retryable network error). And after connecting, on the
address of the socket actually connected (`getpeername()`, before a byte is sent), so a name
that resolves to a public address for the first check and to 127.0.0.1 for the connect (DNS
rebinding) is still refused. Each redirect hop opens or reuses a guarded connection, so
redirects are checked too.

The allow-list (settings.allow_hosts) exempts host:port pairs, never a whole host: allowing
127.0.0.1:8080 for a test server must not open every other local service. An entry without a
port allows the web's ports 80 and 443 only. Hosts match by name or by address.
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


# An allow-list entry without a port: the ports a web page is normally served on.
WEB_PORTS = frozenset({80, 443})


def parse_allow_entry(entry: str) -> tuple[str, int | None]:
    """'127.0.0.1:8080' -> ('127.0.0.1', 8080); '[::1]:8080' -> ('::1', 8080);
    'intranet.test' -> ('intranet.test', None). Raises ValueError on a bad port."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        host, port_text = entry, ""  # a bare name, IPv4 or unbracketed IPv6 address
    host = host.rstrip(".")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad allow-list entry {entry!r}: expected host or host:port")
    return host, int(port_text)


class AddressGuard:
    """Decides whether a (host name, address, port) may be talked to."""

    def __init__(self, allowed_hosts: frozenset[str] = frozenset()) -> None:
        self.allowed: frozenset[tuple[str, int | None]] = frozenset(
            parse_allow_entry(h) for h in allowed_hosts if h.strip()
        )

    def allows(self, host: str, address: str, port: int) -> bool:
        host = host.strip("[]").rstrip(".").lower()
        for name in (host, address):
            if (name, port) in self.allowed:
                return True
            if port in WEB_PORTS and (name, None) in self.allowed:
                return True
        return False

    def check(self, host: str, address: str, port: int) -> None:
        """Raise ForbiddenAddress unless the address is public or host:port is allowed."""
        if is_public_address(address) or self.allows(host, address, port):
            return
        raise ForbiddenAddress(host, f"{address} port {port}")

    def check_resolved(self, host: str, port: int) -> None:
        """Check every address `host` resolves to, before connecting (a resolution failure is
        left to the connect, which reports it as a network error)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            return
        for info in infos:
            self.check(host, str(info[4][0]), port)

    def check_socket(self, host: str, sock: socket.socket) -> None:
        """Check the peer of a freshly connected socket; close it when refused."""
        peer = sock.getpeername()
        try:
            self.check(host, str(peer[0]), int(peer[1]))
        except ForbiddenAddress:
            sock.close()
            raise


def guarded_pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections check their peer with `guard` after connecting."""

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            guard.check_resolved(self.host, self.port or self.default_port)
            sock = super()._new_conn()
            guard.check_socket(self.host, sock)
            return sock

    class GuardedHTTPSConnection(HTTPSConnection):
        # HTTPSConnection.connect calls _new_conn for the TCP socket, then wraps it in TLS with the
        # original host name for SNI and certificate checks: the guard runs before the handshake.
        def _new_conn(self) -> socket.socket:
            guard.check_resolved(self.host, self.port or self.default_port)
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
