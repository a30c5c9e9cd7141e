"""A real HTTP server on 127.0.0.1 for the fetch tests (no test functions live here).

Each test registers routes: a path and a function that writes the whole response through the
`BaseHTTPRequestHandler`, so a route can misbehave in any way a real server can (trickle bytes,
lie about its charset, redirect in circles). Every request is logged with its arrival time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hit:
    path: str
    at: float  # time.time() on arrival, comparable across processes
    headers: dict[str, str]


@dataclass
class LocalServer:
    """Routes and the request log of one running server."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [h.path for h in self.hits]


def send(
    handler: BaseHTTPRequestHandler,
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    """Write a complete response with a Content-Length."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def html_route(body: str | bytes, content_type: str = "text/html; charset=utf-8") -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body

    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, data, {"Content-Type": content_type})

    return route


def text_route(body: str, status: int = 200) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, status, body.encode(), {"Content-Type": "text/plain"})

    return route


@contextmanager
def serve() -> Iterator[LocalServer]:
    """Run a threading HTTP server on an ephemeral port for the duration of the block."""
    server_state: list[LocalServer] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_GET(self) -> None:
            state = server_state[0]
            path = self.path
            with state.lock:
                state.hits.append(
                    Hit(path, time.time(), {k.lower(): v for k, v in self.headers.items()})
                )
                route = state.routes.get(path) or state.routes.get(path.split("?", 1)[0])
            if route is None:
                send(self, 404, b"not found", {"Content-Type": "text/plain"})
                return
            route(self)

        def do_POST(self) -> None:
            self.do_GET()  # a POST route reads its own body (the webhook tests)

        def handle(self) -> None:
            # The client hanging up on us (mid-response, or on a kept-alive connection while we
            # wait for its next request) is exactly what some tests want, not a server error to
            # print a traceback for.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = LocalServer(port=httpd.server_address[1])
    server_state.append(state)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
