"""HttpFetcher against a real local HTTP server: caps, deadline, redirects, status mapping."""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.test_fetch_support import LocalServer, html_route, send, serve
from workers.errors import PermanentError, TransientError
from workers.fetching.http import FetchPolicy, HttpFetcher, parse_retry_after
from workers.settings import Settings

ARTICLE = "<html><head><title>T</title></head><body><p>Story text.</p></body></html>"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as s:
        yield s


def make_fetcher(server: LocalServer, **overrides: object) -> HttpFetcher:
    values: dict[str, object] = {
        # the test server's port; everything else stays SSRF-guarded
        "allow_hosts": f"127.0.0.1:{server.port}",
        "fetch_deadline": 3.0,
        "fetch_read_timeout": 2.0,
    }
    settings = Settings().with_overrides(**{**values, **overrides})
    return HttpFetcher(FetchPolicy.from_settings(settings))


def test_policy_is_built_from_settings() -> None:
    settings = Settings().with_overrides(fetch_max_bytes=123, allow_hosts="a.test, 10.0.0.1:8080")
    policy = FetchPolicy.from_settings(settings)
    assert policy.max_bytes == 123
    assert policy.allowed_hosts == frozenset({"a.test", "10.0.0.1:8080"})
    assert policy.user_agent == settings.user_agent


def test_html_page_is_fetched_and_decoded(server: LocalServer) -> None:
    server.routes["/a"] = html_route(ARTICLE)
    page = make_fetcher(server).get_page(server.url("/a"))
    assert page.status == 200
    assert page.content_type == "text/html"
    assert page.html == ARTICLE
    assert page.final_url == server.url("/a")
    assert page.redirects == ()


def test_user_agent_from_settings_is_sent(server: LocalServer) -> None:
    server.routes["/a"] = html_route(ARTICLE)
    make_fetcher(server, user_agent="testbot/9").get_page(server.url("/a"))
    assert server.hits[0].headers["user-agent"] == "testbot/9"


def test_gzip_encoded_page_is_decompressed(server: LocalServer) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        send(
            h,
            200,
            gzip.compress(ARTICLE.encode()),
            {"Content-Type": "text/html", "Content-Encoding": "gzip"},
        )

    server.routes["/gz"] = route
    assert make_fetcher(server).get_page(server.url("/gz")).html == ARTICLE


def test_gzip_bomb_is_stopped_at_the_decompressed_cap(server: LocalServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)  # ~50 kB on the wire

    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, bomb, {"Content-Type": "text/html", "Content-Encoding": "gzip"})

    server.routes["/bomb"] = route
    fetcher = make_fetcher(server, fetch_max_bytes=1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(PermanentError) as err:
            fetcher.get_page(server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.reason == "too_large"
    assert peak < 10_000_000  # never anywhere near the 50 MB the bomb unpacks to


def test_declared_oversize_body_is_refused_before_reading(server: LocalServer) -> None:
    server.routes["/big"] = html_route("x" * 2000)
    with pytest.raises(PermanentError) as err:
        make_fetcher(server, fetch_max_bytes=1000).get_page(server.url("/big"))
    assert err.value.reason == "too_large"


def test_trickling_server_is_cut_off_at_the_deadline(server: LocalServer) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(1000):  # one byte every 50 ms: the read timeout never fires
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.05)

    server.routes["/slow"] = route
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        make_fetcher(server, fetch_deadline=0.6, fetch_read_timeout=5.0).get_page(
            server.url("/slow")
        )
    assert err.value.reason == "deadline_exceeded"
    # Cut off near the 0.6 s deadline, not after the 50 s the body would take (the margin is for
    # a busy machine; the deadline's precision is not what this test is about).
    assert time.monotonic() - started < 10.0


def test_silent_server_times_out(server: LocalServer) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.5)

    server.routes["/silent"] = route
    with pytest.raises(TransientError) as err:
        make_fetcher(server, fetch_read_timeout=0.3).get_page(server.url("/silent"))
    assert err.value.reason == "timeout"


def _redirect(to: str, status: int = 302) -> object:
    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, status, b"", {"Location": to})

    return route


def test_redirects_are_followed_and_recorded(server: LocalServer) -> None:
    server.routes["/old"] = _redirect("/mid")  # type: ignore[assignment]
    server.routes["/mid"] = _redirect(server.url("/new"), 301)  # type: ignore[assignment]
    server.routes["/new"] = html_route(ARTICLE)
    page = make_fetcher(server).get_page(server.url("/old"))
    assert page.final_url == server.url("/new")
    assert page.redirects == (server.url("/mid"), server.url("/new"))
    assert page.url == server.url("/old")


def test_redirect_loop_is_a_permanent_error(server: LocalServer) -> None:
    server.routes["/a"] = _redirect("/b")  # type: ignore[assignment]
    server.routes["/b"] = _redirect("/a")  # type: ignore[assignment]
    with pytest.raises(PermanentError) as err:
        make_fetcher(server, fetch_max_redirects=10).get_page(server.url("/a"))
    assert err.value.reason == "redirect_loop"
    assert server.paths() == ["/a", "/b"]


def test_redirect_back_with_a_new_cookie_is_not_a_loop(server: LocalServer) -> None:
    """Consent walls redirect to set a cookie and back: the same URL with new state is progress."""

    def article(h: BaseHTTPRequestHandler) -> None:
        if "consent=yes" in (h.headers.get("Cookie") or ""):
            send(h, 200, ARTICLE.encode(), {"Content-Type": "text/html"})
        else:
            send(h, 302, b"", {"Location": "/consent"})

    def consent(h: BaseHTTPRequestHandler) -> None:
        send(h, 302, b"", {"Location": "/story", "Set-Cookie": "consent=yes; Path=/"})

    server.routes["/story"] = article
    server.routes["/consent"] = consent
    assert make_fetcher(server).get_page(server.url("/story")).html == ARTICLE


def test_too_many_redirects_is_a_permanent_error(server: LocalServer) -> None:
    for i in range(10):
        server.routes[f"/r{i}"] = _redirect(f"/r{i + 1}")  # type: ignore[assignment]
    with pytest.raises(PermanentError) as err:
        make_fetcher(server, fetch_max_redirects=3).get_page(server.url("/r0"))
    assert err.value.reason == "too_many_redirects"
    assert len(server.hits) == 4


def test_redirect_to_another_scheme_is_refused(server: LocalServer) -> None:
    server.routes["/x"] = _redirect("ftp://example.com/file")  # type: ignore[assignment]
    with pytest.raises(PermanentError) as err:
        make_fetcher(server).get_page(server.url("/x"))
    assert err.value.reason == "bad_redirect"


def test_wrong_header_charset_is_overridden_by_clean_utf8(server: LocalServer) -> None:
    body = '<html><head><meta charset="utf-8"></head><body>Ça coûte 10 € – “déjà vu”</body></html>'
    server.routes["/c"] = html_route(body.encode("utf-8"), "text/html; charset=iso-8859-1")
    page = make_fetcher(server).get_page(server.url("/c"))
    assert page.encoding == "utf-8"
    assert "Ça coûte 10 € – “déjà vu”" in page.html


def test_legacy_page_with_correct_header_is_decoded_with_it(server: LocalServer) -> None:
    body = "<html><body>Ça coûte 10 € – “déjà vu”</body></html>"
    server.routes["/c"] = html_route(body.encode("windows-1252"), "text/html; charset=windows-1252")
    page = make_fetcher(server).get_page(server.url("/c"))
    assert page.html == body


def test_non_html_content_is_a_permanent_error(server: LocalServer) -> None:
    server.routes["/pdf"] = html_route(b"%PDF-1.7 ...", "application/pdf")
    with pytest.raises(PermanentError) as err:
        make_fetcher(server).get_page(server.url("/pdf"))
    assert err.value.reason == "not_html"


def test_untyped_html_is_sniffed_and_accepted(server: LocalServer) -> None:
    server.routes["/u"] = html_route("<!DOCTYPE html>" + ARTICLE, "application/octet-stream")
    assert make_fetcher(server).get_page(server.url("/u")).content_type == "text/html"


def test_untyped_xhtml_with_an_xml_declaration_is_accepted(server: LocalServer) -> None:
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ARTICLE
    server.routes["/x"] = html_route(body, "application/octet-stream")
    assert make_fetcher(server).get_page(server.url("/x")).html == body


def test_untyped_plain_text_is_a_permanent_not_html_error(server: LocalServer) -> None:
    server.routes["/t"] = html_route("Shares rose 3% today.", "application/octet-stream")
    with pytest.raises(PermanentError) as err:
        make_fetcher(server).get_page(server.url("/t"))
    assert err.value.reason == "not_html"


UNTYPED_BODIES = [
    "Shares rose 3% today.",
    "A scraped text with one stray <p> in it, and nothing else that looks like markup.",
    "<p>Two</p> <p>paragraphs</p>",
    "<div>A fragment</div> with a <span>tag</span>",
]


@pytest.mark.parametrize("body", UNTYPED_BODIES)
def test_fetch_accepts_an_untyped_body_exactly_when_clean_would_parse_it_as_html(
    server: LocalServer, body: str
) -> None:
    """One definition of "this is HTML": what fetch accepts untyped, clean parses as HTML."""
    from workers.stages.clean.document import looks_like_html

    server.routes["/u"] = html_route(body, "application/octet-stream")
    if looks_like_html(body):
        assert make_fetcher(server).get_page(server.url("/u")).html == body
    else:
        with pytest.raises(PermanentError) as err:
            make_fetcher(server).get_page(server.url("/u"))
        assert err.value.reason == "not_html"


def test_the_untyped_bodies_tried_include_html_and_text() -> None:
    from workers.stages.clean.document import looks_like_html

    assert {looks_like_html(body) for body in UNTYPED_BODIES} == {True, False}


@pytest.mark.parametrize("status", [404, 410, 403])
def test_client_errors_are_permanent(server: LocalServer, status: int) -> None:
    server.routes["/e"] = lambda h: send(h, status, b"no")
    with pytest.raises(PermanentError) as err:
        make_fetcher(server).get_page(server.url("/e"))
    assert err.value.reason == f"http_{status}"


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_and_throttling_are_transient(server: LocalServer, status: int) -> None:
    server.routes["/e"] = lambda h: send(h, status, b"busy")
    with pytest.raises(TransientError) as err:
        make_fetcher(server).get_page(server.url("/e"))
    assert err.value.reason == f"http_{status}"


def test_retry_after_is_passed_on(server: LocalServer) -> None:
    server.routes["/e"] = lambda h: send(h, 503, b"busy", {"Retry-After": "120"})
    with pytest.raises(TransientError) as err:
        make_fetcher(server).get_page(server.url("/e"))
    assert err.value.retry_after == 120.0


def test_retry_after_accepts_http_dates() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412420.0) == 60.0
    assert parse_retry_after("soon") is None


def test_connection_refused_is_transient() -> None:
    with serve() as stopped:
        url = stopped.url("/gone")
    with pytest.raises(TransientError) as err:  # allowed, but nothing listens there any more
        make_fetcher(stopped).get_page(url)
    assert err.value.reason == "connection_error"


def test_feed_conditional_get_returns_304_when_unchanged(server: LocalServer) -> None:
    def feed(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304, b"", {"ETag": '"v1"'})
        else:
            send(
                h,
                200,
                b"<rss/>",
                {
                    "Content-Type": "application/rss+xml",
                    "ETag": '"v1"',
                    "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT",
                },
            )

    server.routes["/feed"] = feed
    fetcher = make_fetcher(server)
    first = fetcher.get_feed(server.url("/feed"))
    assert (first.status, first.body, first.etag) == (200, b"<rss/>", '"v1"')
    second = fetcher.get_feed(
        server.url("/feed"), etag=first.etag, last_modified=first.last_modified
    )
    assert second.not_modified
    assert second.body == b""
    assert (second.etag, second.last_modified) == ('"v1"', first.last_modified)
    assert server.hits[1].headers["if-modified-since"] == first.last_modified
