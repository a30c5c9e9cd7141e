"""The HTTP layer of `newsflow serve`: plain handlers, a route matcher and a stdlib server.

A handler is a plain function `Request -> Response`: it sees no socket, so tests call it
directly. A `Route` pairs a method and a path pattern (`/api/trace/{target:path}`: a
`{name}` matches one path segment, `{name:path}` the rest of the path, slashes included;
both arrive percent-decoded in `request.params`) with its handler. `Router` picks the route,
and turns what escapes a handler into an answer: a dependency error (Redis or the database
away) into 503 with the reason, anything else into 500 with an error id that is also logged.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from workers.serve.health import DEPENDENCY_ERRORS, describe_error

if TYPE_CHECKING:
    from workers.serve.context import ServeContext

log = structlog.get_logger("newsflow.serve")

JSON = "application/json"
HTML = "text/html; charset=utf-8"
# Requests carry at most a list of article ids: anything larger is refused unread.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as handlers see it. `app` is the process's shared context."""

    method: str
    path: str
    app: ServeContext | None = None
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body as JSON (None when empty); ValueError when it is not JSON."""
        return json.loads(self.body) if self.body.strip() else None

    @property
    def context(self) -> ServeContext:
        if self.app is None:
            raise RuntimeError("this request has no serve context")
        return self.app


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, default=str, separators=(",", ":")).encode("utf-8")
    return Response(status, JSON, body, {"Cache-Control": "no-store", **(headers or {})})


def error_response(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


@dataclass(frozen=True, slots=True)
class Route:
    """`method` and a path `pattern` with `{name}` / `{name:path}` parameters, and its handler."""

    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts, last = [], 0
        for m in _PARAM.finditer(self.pattern):
            parts.append(re.escape(self.pattern[last : m.start()]))
            parts.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
            last = m.end()
        parts.append(re.escape(self.pattern[last:]))
        object.__setattr__(self, "regex", re.compile("^" + "".join(parts) + "$"))

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The percent-decoded parameters when `raw_path` (still encoded) matches."""
        found = self.regex.match(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


class Router:
    """Dispatches requests to the routes; HEAD is answered by a GET route, without a body."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        seen = set()
        for route in self.routes:
            key = (route.method, route.pattern)
            if key in seen:
                raise ValueError(f"route {route.method} {route.pattern} is declared twice")
            seen.add(key)

    def resolve(self, method: str, raw_path: str) -> tuple[Route | None, dict[str, str], set[str]]:
        """(route, params, methods allowed on the path): no route and an empty set for an
        unknown path, no route and the allowed methods for a known path with another method."""
        allowed: set[str] = set()
        wanted = "GET" if method == "HEAD" else method
        for route in self.routes:
            params = route.match(raw_path)
            if params is None:
                continue
            if route.method == wanted:
                return route, params, allowed
            allowed.add(route.method)
        return None, {}, allowed

    def dispatch(self, request: Request) -> Response:
        """Answer `request` (its `path` still percent-encoded): never raises."""
        route, params, allowed = self.resolve(request.method, request.path)
        if route is None:
            if allowed:
                return error_response(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{request.method} is not allowed here",
                    allowed=sorted(allowed),
                )
            return error_response(HTTPStatus.NOT_FOUND, f"no such path: {request.path}")
        bound = Request(
            method=request.method,
            path=request.path,
            app=request.app,
            query=request.query,
            headers=request.headers,
            body=request.body,
            params=params,
        )
        try:
            return route.handler(bound)
        except DEPENDENCY_ERRORS as exc:
            # Redis or the database is away: say so; it is not our failure.
            reason = describe_error(exc)
            log.warning("http_dependency_unavailable", path=request.path, error=reason)
            return error_response(HTTPStatus.SERVICE_UNAVAILABLE, reason)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("http_handler_failed", path=request.path, error_id=error_id)
            return error_response(
                HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", error_id=error_id
            )


def parse_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """(raw path, query) of a request target."""
    parts = urlsplit(target)
    return parts.path or "/", parse_qs(parts.query)


class _Handler(BaseHTTPRequestHandler):
    """Adapts http.server to `Router.dispatch`. Set by `make_server`."""

    router: Router
    context: ServeContext | None
    server_version = "newsflow"
    sys_version = ""
    # A client that sends nothing for this long is dropped: a thread is not held forever.
    timeout = 30

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def _answer(self) -> None:
        started = time.perf_counter()
        path, query = parse_target(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            response = error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(
                method=self.command,
                path=path,
                app=self.context,
                query=query,
                headers=dict(self.headers.items()),
                body=body,
            )
            response = self.router.dispatch(request)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        log.debug(
            "http_request_answered",
            method=self.command,
            path=path,
            status=response.status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own lines go to stderr unstructured: ours are logged above."""


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never keeps the process from stopping
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(
    host: str, port: int, routes: Iterable[Route], context: ServeContext | None
) -> Server:
    """A threading HTTP server bound to (host, port) (port 0: any free one) answering `routes`."""
    handler = type("NewsflowHandler", (_Handler,), {"router": Router(routes), "context": context})
    server_class: type[Server] = Server
    if ":" in host:  # an IPv6 address, e.g. "::" for every interface
        server_class = Server6
    return server_class((host.strip("[]"), port), handler)
