"""The HTTP client of the fetch stage and the feed crawler: polite, bounded, SSRF-safe.

One pooled `requests.Session` per fetcher (thread-safe for our use: no shared cookies, no
environment proxies). Redirects are followed by hand so that every hop is checked: scheme,
robots.txt, the shared per-host rate limit, the SSRF guard (on the connected socket), loops and
the hop count. Bodies are read raw under a wall-clock deadline and decompressed here under a size
cap. Failures are mapped once, here, onto the error taxonomy:

- TransientError: timeouts, connection errors, deadline exceeded, 408/425/429/5xx (with
  `retry_after` when the server sent Retry-After), robots.txt unreachable.
- Deferred: the host's next polite slot is further off than a thread should sleep (a page fetch
  reserves that slot and carries it back in; a feed fetch just learns when to come back).
- PermanentError: bad_url, ssrf_refused, robots_disallowed, redirect_loop, too_many_redirects,
  bad_redirect, http_<status> for other 4xx, not_html, too_large, tls_error, corrupt_body.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar

from workers.adapters.robots import ROBOTS_MAX_BYTES, RobotsChecker
from workers.errors import PermanentError, TransientError
from workers.fetching.body import Deadline, read_body
from workers.fetching.charset import decode_body
from workers.fetching.ssrf import AddressGuard, ForbiddenAddress, GuardedAdapter
from workers.fetching.urls import canonicalize_url, host_of
from workers.models import FetchedPage, SlotReservation
from workers.settings import Settings

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types a server sends when it does not know; the body is sniffed instead of trusted.
_UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Bytes of an untyped body handed to looks_like_html: more than it reads.
_SNIFF_BYTES = 65_536
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Statuses that may well succeed later (RFC 9110: 408 timeout, 425 too early, 429, 5xx).
_TRANSIENT_4XX = frozenset({408, 425, 429})
# Sitemaps may hold 50 MB uncompressed (sitemaps.org protocol limit); feeds are far smaller.
FEED_MAX_BYTES = 50_000_000
# A Retry-After beyond a day is a misconfiguration; the queue's own back-off takes over there.
_RETRY_AFTER_MAX = 86_400.0
# Crawl-delay values above a minute would starve a host's backlog; a minute is still very polite.
_CRAWL_DELAY_MAX = 60.0
# Enough connections for the highest fetch concurrency we run per process (benchmarks: 32 threads).
DEFAULT_POOL_SIZE = 32

_PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
_FEED_ACCEPT = (
    "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The limits every request of one fetcher obeys."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline: float = 30.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = "newsflow/0.1"
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    feed_max_bytes: int = FEED_MAX_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            deadline=settings.fetch_deadline,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            user_agent=settings.user_agent,
            allowed_hosts=settings.allowed_hosts,
        )


@dataclass(frozen=True, slots=True)
class FeedResponse:
    """A conditional GET of a feed or sitemap: 200 with a body, or 304 (unchanged, empty body)."""

    status: int
    url: str  # where redirects ended
    body: bytes  # raw bytes as served (a .xml.gz sitemap stays gzipped; discover() unpacks it)
    content_type: str
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class RateLimiter(Protocol):
    """What the fetcher needs of a limiter (HostRateLimiter, or anything that waits politely)."""

    def acquire(
        self,
        host: str,
        min_interval: float = 0.0,
        max_wait: float | None = None,
        reserve: bool = False,
        reservation: SlotReservation | None = None,
    ) -> float: ...

    def penalise(self, host: str, seconds: float) -> None: ...


@dataclass(slots=True)
class _Response:
    """The last hop of an exchange, body not yet read (the caller decides how much to accept)."""

    url: str
    status: int
    headers: Mapping[str, str]
    raw: requests.Response
    redirects: list[str]


@dataclass(slots=True)
class _SlotTicket:
    """How one fetch asks the limiter for slots: with a slot reserved earlier (used by its first
    request to that host, robots.txt included), and whether a busy host reserves the next one."""

    reservation: SlotReservation | None = None
    reserve_when_busy: bool = False

    def take(self, host: str) -> SlotReservation | None:
        held = self.reservation
        if held is not None and held.host == host:
            self.reservation = None
            return held
        return None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The session's own jar keeps nothing: cookies live for one fetch (its redirect chain) only,
    so fetches on different threads and sites never see each other's state."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


class HttpFetcher:
    """Fetches article pages (`get_page`), feeds and sitemaps (`get_feed`) and robots.txt."""

    def __init__(
        self,
        policy: FetchPolicy,
        robots: RobotsChecker | None = None,
        limiter: RateLimiter | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.policy = policy
        self.robots = robots
        self.limiter = limiter
        self._session = requests.Session()
        # No HTTP(S)_PROXY / .netrc from the environment: a proxy would be the connected peer and
        # blind the SSRF guard, and credentials must never leak to arbitrary news sites.
        self._session.trust_env = False
        self._session.cookies.set_policy(_NoCookies())
        adapter = GuardedAdapter(
            AddressGuard(policy.allowed_hosts),
            pool_connections=pool_size,
            pool_maxsize=pool_size,
            max_retries=0,  # retrying is the queue's job, with back-off
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.clear()
        self._session.headers.update(
            {"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"}
        )

    def close(self) -> None:
        self._session.close()

    # --- public API ----------------------------------------------------------------------------

    def get_page(self, url: str, reservation: SlotReservation | None = None) -> FetchedPage:
        """GET an article page: HTML only, decoded to text. Raises Transient/PermanentError, or
        Deferred with a reserved slot when the host is busy (pass it back as `reservation`)."""
        started = time.monotonic()
        deadline = Deadline(self.policy.deadline)
        ticket = _SlotTicket(reservation, reserve_when_busy=True)
        with self._exchange(url, {"Accept": _PAGE_ACCEPT}, deadline, ticket) as resp:
            _raise_for_status(resp, self.limiter)
            if resp.status == 304:
                raise PermanentError("http_304", f"{url}: unconditional GET answered 304")
            media = media_type(resp.headers.get("content-type", ""))
            if media not in HTML_TYPES and media not in _UNKNOWN_TYPES:
                raise PermanentError("not_html", f"{resp.url}: {media}")
            self._check_length(resp, self.policy.max_bytes)
            body = read_body(
                resp.raw.raw,
                resp.headers.get("content-encoding", ""),
                self.policy.max_bytes,
                deadline,
                resp.url,
            )
        if media in _UNKNOWN_TYPES:
            # The clean stage's own test of markup, so what fetch lets through as HTML is what
            # clean parses as HTML. Tags are ASCII, and latin-1 decodes any byte. Imported here:
            # the clean package brings the extractor's libraries (numpy, lxml, py3langid's
            # module: ~20 MB), which a fetch worker needs only for a body of no declared type.
            from workers.stages.clean.document import looks_like_html

            if not looks_like_html(body[:_SNIFF_BYTES].decode("latin-1")):
                raise PermanentError("not_html", f"{resp.url}: {media or 'no type'}, not HTML")
            media = "text/html"
        html, encoding = decode_body(body, resp.headers.get("content-type"))
        return FetchedPage(
            url=url,
            final_url=resp.url,
            status=resp.status,
            content_type=media,
            encoding=encoding,
            html=html,
            fetched_at=datetime.now(UTC),
            elapsed_ms=(time.monotonic() - started) * 1000.0,
            redirects=tuple(resp.redirects),
            body_bytes=len(body),
        )

    def get_feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FeedResponse:
        """Conditional GET of a feed or sitemap: 304 when the validators still match."""
        headers = {"Accept": _FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = Deadline(self.policy.deadline)
        with self._exchange(url, headers, deadline, _SlotTicket()) as resp:
            _raise_for_status(resp, self.limiter)
            new_etag = resp.headers.get("etag") or (etag if resp.status == 304 else None)
            new_lm = resp.headers.get("last-modified") or (
                last_modified if resp.status == 304 else None
            )
            body = b""
            if resp.status != 304:
                self._check_length(resp, self.policy.feed_max_bytes)
                body = read_body(
                    resp.raw.raw,
                    resp.headers.get("content-encoding", ""),
                    self.policy.feed_max_bytes,
                    deadline,
                    resp.url,
                )
            return FeedResponse(
                status=304 if resp.status == 304 else 200,
                url=resp.url,
                body=body,
                content_type=resp.headers.get("content-type", ""),
                etag=new_etag,
                last_modified=new_lm,
            )

    def get_robots(
        self,
        robots_url: str,
        deadline: Deadline | None = None,
        ticket: _SlotTicket | None = None,
    ) -> tuple[int, bytes]:
        """Download robots.txt: (status, body up to 500 KiB). Not itself checked against robots."""
        deadline = deadline or Deadline(self.policy.deadline)
        ticket = ticket or _SlotTicket()
        headers = {"Accept": "text/plain"}
        with self._exchange(robots_url, headers, deadline, ticket, robots=False) as resp:
            if resp.status >= 400 or resp.status == 304:
                return resp.status, b""
            body = read_body(
                resp.raw.raw,
                resp.headers.get("content-encoding", ""),
                ROBOTS_MAX_BYTES,
                deadline,
                resp.url,
                truncate=True,
            )
            return resp.status, body

    # --- one exchange: a request and its redirects ---------------------------------------------

    @contextmanager
    def _exchange(
        self,
        url: str,
        headers: dict[str, str],
        deadline: Deadline,
        ticket: _SlotTicket,
        robots: bool = True,
    ) -> Iterator[_Response]:
        """Yield the final (non-redirect) response of GET `url`, every hop checked."""
        current = _request_url(url)
        redirects: list[str] = []
        jar = RequestsCookieJar()
        visited: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            state = (current, _jar_state(jar))
            if state in visited:
                raise PermanentError("redirect_loop", f"{url} -> {current} again")
            visited.add(state)
            if robots:
                self._check_robots(current, deadline, ticket)
            # robots.txt itself is fetched without consulting robots.txt (its Crawl-delay included).
            self._wait_for_slot(current, deadline, ticket, crawl_delay=robots)
            raw = self._send(current, headers, jar, deadline)
            try:
                location = raw.headers.get("location")
                if raw.status_code in _REDIRECTS and location:
                    # requests' helper is untyped; it reads Set-Cookie of this hop into our jar.
                    extract_cookies_to_jar(jar, raw.request, raw.raw)  # type: ignore[no-untyped-call]
                    if len(redirects) >= self.policy.max_redirects:
                        raise PermanentError(
                            "too_many_redirects", f"{url}: over {self.policy.max_redirects}"
                        )
                    current = _request_url(urljoin(current, location), reason="bad_redirect")
                    redirects.append(current)
                    continue
                if 300 <= raw.status_code < 400 and raw.status_code != 304:
                    raise PermanentError("bad_redirect", f"{current}: {raw.status_code}")
                lowered = {k.lower(): v for k, v in raw.headers.items()}
                yield _Response(current, raw.status_code, lowered, raw, redirects)
                return
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _transport_error(exc, current, deadline) from exc
            finally:
                raw.close()

    def _check_robots(self, url: str, deadline: Deadline, ticket: _SlotTicket) -> None:
        if self.robots is None:
            return

        def fetch(robots_url: str) -> tuple[int, bytes]:
            return self.get_robots(robots_url, deadline, ticket)

        if not self.robots.allowed(url, fetch):
            raise PermanentError("robots_disallowed", url)

    def _wait_for_slot(
        self, url: str, deadline: Deadline, ticket: _SlotTicket, crawl_delay: bool
    ) -> None:
        if self.limiter is None:
            return
        delay = 0.0
        if self.robots is not None and crawl_delay:
            delay = min(
                self.robots.crawl_delay(url, lambda u: self.get_robots(u, deadline, ticket)),
                _CRAWL_DELAY_MAX,
            )
        host = host_of(url)
        self.limiter.acquire(
            host,
            min_interval=delay,
            max_wait=deadline.remaining(),
            reserve=ticket.reserve_when_busy,
            reservation=ticket.take(host),
        )

    def _send(
        self, url: str, headers: dict[str, str], jar: RequestsCookieJar, deadline: Deadline
    ) -> requests.Response:
        remaining = deadline.remaining()
        if remaining <= 0:
            deadline.check(url)
        timeout = (
            min(self.policy.connect_timeout, remaining),
            min(self.policy.read_timeout, remaining),
        )
        try:
            return self._session.get(
                url,
                headers=headers,
                cookies=jar,
                timeout=timeout,
                stream=True,
                allow_redirects=False,
            )
        except ForbiddenAddress as exc:
            raise PermanentError("ssrf_refused", f"{url}: {exc}") from exc
        except requests.exceptions.SSLError as exc:
            raise PermanentError("tls_error", f"{url}: {exc}") from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as exc:
            raise PermanentError("bad_url", f"{url}: {exc}") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError("connect_timeout", f"{url}: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise _transport_error(exc, url, deadline) from exc

    @staticmethod
    def _check_length(resp: _Response, max_bytes: int) -> None:
        """Refuse early when an uncompressed body announces more than the cap."""
        declared = resp.headers.get("content-length", "")
        encoding = resp.headers.get("content-encoding", "identity").strip().lower()
        if declared.isdigit() and encoding in ("", "identity") and int(declared) > max_bytes:
            raise PermanentError("too_large", f"{resp.url}: Content-Length {declared}")


def media_type(content_type: str) -> str:
    """'text/html; charset=utf-8' -> 'text/html'."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    return max(0.0, min(seconds, _RETRY_AFTER_MAX))


def _raise_for_status(resp: _Response, limiter: RateLimiter | None) -> None:
    status = resp.status
    if status < 400:
        return
    if status >= 500 or status in _TRANSIENT_4XX:
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        if retry_after and limiter is not None and status in (429, 503):
            limiter.penalise(host_of(resp.url), retry_after)  # every worker backs off, not just us
        raise TransientError(f"http_{status}", resp.url, retry_after=retry_after)
    raise PermanentError(f"http_{status}", resp.url)


def _transport_error(exc: BaseException, url: str, deadline: Deadline) -> TransientError:
    if deadline.remaining() <= 0:
        return TransientError("deadline_exceeded", f"{url} took over {deadline.seconds:g}s")
    timeouts = (
        requests.exceptions.Timeout,
        urllib3.exceptions.TimeoutError,
        TimeoutError,
    )
    if isinstance(exc, timeouts):
        return TransientError("timeout", f"{url}: {exc}")
    return TransientError("connection_error", f"{url}: {exc}")


def _request_url(url: str, reason: str = "bad_url") -> str:
    """The URL as it goes on the wire: http(s) only, fragment dropped, otherwise as given."""
    try:
        canonicalize_url(url)  # validates scheme and host; raises PermanentError("bad_url")
    except PermanentError as exc:
        raise PermanentError(reason, exc.detail) from exc
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))


def _jar_state(jar: RequestsCookieJar) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((c.name, c.value or "") for c in jar))
