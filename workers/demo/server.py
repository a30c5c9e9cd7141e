"""Serve the bundled demo sites (and test pages) from package data on 127.0.0.1.

Each site folder is served on its own port, so the two sites have different origins like real
publishers. `{{BASE_A}}`/`{{BASE_B}}` placeholders in the files become the live base URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

SITE_ROOT = Path(__file__).with_name("site")
# Placeholder -> site folder, in the order sites are started.
SITES: Mapping[str, str] = {"{{BASE_A}}": "ledger", "{{BASE_B}}": "metrowire"}
# The feeds the sites publish ("folder/file", kind): the original publisher's first, then the
# site that republishes one of its stories.
DEMO_FEEDS = (("ledger/feed.xml", "rss"), ("metrowire/feed.xml", "atom"))

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class _SiteHandler(BaseHTTPRequestHandler):
    folder: ClassVar[Path]
    bases: ClassVar[dict[str, str]]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0].lstrip("/") or "index.html"
        target = (self.folder / path).resolve()
        if not target.is_relative_to(self.folder.resolve()) or not target.is_file():
            self._send(404, b"<html><body><h1>404 Not Found</h1></body></html>", ".html")
            return
        body = target.read_text(encoding="utf-8")
        for placeholder, base in self.bases.items():
            body = body.replace(placeholder, base)
        self._send(200, body.encode("utf-8"), target.suffix)

    def _send(self, status: int, body: bytes, suffix: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the pipeline's own events say what was fetched


@dataclass
class DemoSites:
    """Running demo sites: base URL per placeholder, stop() to shut them down."""

    bases: dict[str, str]
    servers: list[ThreadingHTTPServer]

    def url(self, site_path: str) -> str:
        """Absolute URL of a site file given as "folder/file" (e.g. "ledger/feed.xml")."""
        folder, _, rest = site_path.partition("/")
        for placeholder, name in SITES.items():
            if name == folder:
                return f"{self.bases[placeholder]}/{rest}"
        raise KeyError(site_path)

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def serve_demo_sites(root: Path = SITE_ROOT, host: str = "127.0.0.1") -> DemoSites:
    servers: list[ThreadingHTTPServer] = []
    bases: dict[str, str] = {}
    # Bind all ports first so every handler knows every site's base URL.
    for placeholder in SITES:
        server = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
        servers.append(server)
        bases[placeholder] = f"http://{host}:{server.server_address[1]}"
    for server, (_placeholder, folder) in zip(servers, SITES.items(), strict=True):
        handler = type(
            f"Site_{folder}", (_SiteHandler,), {"folder": root / folder, "bases": dict(bases)}
        )
        server.RequestHandlerClass = handler
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return DemoSites(bases=bases, servers=servers)
