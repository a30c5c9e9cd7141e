"""The webhook sink against a real HTTP server on 127.0.0.1: signed POSTs of the stream's
envelopes, in order; a failing receiver leaves entries pending, counted, and gets them once it
recovers; the address guard applies."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import redis

from tests import article_support as articles
from tests.test_fetch_support import LocalServer, send, serve
from workers.events.relay import StreamWriter, relay_batch
from workers.events.webhook import (
    BACKOFF_MAX_S,
    GROUP,
    WebhookSink,
    backoff_s,
    run_webhook,
    webhook_stats,
)
from workers.observe import events_status
from workers.services import Services
from workers.settings import Settings
from workers.store import ArticleStore, open_store
from workers.store.outbox import EventOutbox

SECRET = "s3cret"


class Receiver:
    """A webhook receiver: answers each POST with the next scripted status (the last repeats)
    and records the bodies and headers of the ones it took."""

    def __init__(self, server: LocalServer, statuses: list[int]) -> None:
        self.server = server
        self.statuses = statuses
        self.taken: list[tuple[bytes, dict[str, str]]] = []
        self.attempts = 0
        server.routes["/hook"] = self.route

    @property
    def url(self) -> str:
        return self.server.url("/hook")

    def route(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers["Content-Length"]))
        with self.server.lock:
            self.attempts += 1
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            if 200 <= status < 300:
                self.taken.append((body, {k.lower(): v for k, v in h.headers.items()}))
        send(h, status, b"")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with serve() as s:
        yield s


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ArticleStore]:
    real = open_store(sqlite_url)
    yield real
    real.engine.dispose()


@pytest.fixture
def stream(key_prefix: str) -> str:
    return f"{key_prefix}:events"


@pytest.fixture
def make_sink(
    redis_client: redis.Redis, stream: str, server: LocalServer
) -> Iterator[Callable[..., WebhookSink]]:
    made: list[WebhookSink] = []

    def make(
        url: str, consumer: str = "s1", allow: bool = True, claim_idle_ms: int = 60_000
    ) -> WebhookSink:
        allowed = frozenset({f"127.0.0.1:{server.port}"}) if allow else frozenset()
        sink = WebhookSink(
            redis_client, stream, url, SECRET, consumer, allowed, claim_idle_ms, block_ms=100
        )
        sink.ensure_group()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


def events(store: ArticleStore, client: redis.Redis, stream: str, *ids: str) -> list[bytes]:
    """End articles `ids` as stored and relay them; the envelopes as the stream holds them."""
    for article_id in ids:
        articles.stored(store, article_id)
    writer = StreamWriter(client, stream, maxlen=1000, max_age_s=0)
    relay_batch(EventOutbox(store.engine), writer, "newsflow://test")
    return [f[b"event"] for _, f in client.xrange(stream)][-len(ids) :]


def test_each_envelope_is_posted_as_sent_and_signed_with_the_secret(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [204])
    sink = make_sink(receiver.url)
    sent = events(store, redis_client, stream, "a1", "a2")
    assert sink.deliver_round().delivered == 2
    assert [body for body, _ in receiver.taken] == sent
    for body, headers in receiver.taken:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-newsflow-signature"], expected)
        assert headers["content-type"] == "application/cloudevents+json"
    stats = webhook_stats(redis_client, stream)
    assert (stats["delivered"], stats["failures"], stats["pending"]) == (2, 0, 0)


def test_a_failing_receiver_keeps_the_entry_pending_and_gets_it_in_order_once_back(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [500, 503, 200])
    sink = make_sink(receiver.url)
    sent = events(store, redis_client, stream, "a1", "a2", "a3")
    assert sink.deliver_round().failed
    assert sink.deliver_round().failed
    stats = webhook_stats(redis_client, stream)
    assert (stats["failures"], stats["pending"]) == (2, 3)  # not acked, nothing skipped
    assert stats["last_error"] == "HTTP 503"
    assert receiver.taken == []
    report = sink.deliver_round()
    assert (report.delivered, report.failed) == (3, False)
    assert [body for body, _ in receiver.taken] == sent
    assert webhook_stats(redis_client, stream)["pending"] == 0


def test_the_sink_backs_off_and_delivers_when_the_receiver_recovers(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [502, 502, 200])
    sink = make_sink(receiver.url)
    events(store, redis_client, stream, "a1")
    stop = threading.Event()
    thread = threading.Thread(target=run_webhook, args=(sink, stop), daemon=True)
    thread.start()
    try:
        for _ in range(100):  # 1 s then 2 s of back-off
            if receiver.taken:
                break
            stop.wait(0.1)
    finally:
        stop.set()
        thread.join(5)
    assert receiver.attempts == 3
    assert len(receiver.taken) == 1
    assert webhook_stats(redis_client, stream)["failures"] == 2


def test_back_off_doubles_up_to_its_cap() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(50) == BACKOFF_MAX_S


def test_a_dead_consumer_s_pending_entries_are_delivered_by_another(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [200])
    make_sink(receiver.url, consumer="dead")
    events(store, redis_client, stream, "a1", "a2")
    redis_client.xreadgroup(GROUP, "dead", {stream: ">"})  # read, then its scheduler died
    other = make_sink(receiver.url, consumer="alive", claim_idle_ms=0)
    assert other.deliver_round().delivered == 2
    assert webhook_stats(redis_client, stream)["pending"] == 0


def test_the_sink_starts_with_the_events_after_it_first_ran(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [200])
    events(store, redis_client, stream, "before")
    sink = make_sink(receiver.url)
    events(store, redis_client, stream, "after")
    sink.deliver_round()
    assert [b'"subject":"after"' in body for body, _ in receiver.taken] == [True]


def test_without_a_secret_no_signature_is_sent(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer
) -> None:
    receiver = Receiver(server, [200])
    allowed = frozenset({f"127.0.0.1:{server.port}"})
    sink = WebhookSink(redis_client, stream, receiver.url, "", "s1", allowed, block_ms=100)
    sink.ensure_group()
    try:
        events(store, redis_client, stream, "a1")
        sink.deliver_round()
    finally:
        sink.close()
    [(_, headers)] = receiver.taken
    assert "x-newsflow-signature" not in headers


def test_a_private_address_not_allowed_is_refused_and_counted(
    store: ArticleStore, redis_client: redis.Redis, stream: str, server: LocalServer, make_sink
) -> None:
    receiver = Receiver(server, [200])
    sink = make_sink(receiver.url, allow=False)
    events(store, redis_client, stream, "a1")
    assert sink.deliver_round().failed
    assert receiver.attempts == 0
    assert "ForbiddenAddress" in webhook_stats(redis_client, stream)["last_error"]


def test_status_shows_the_relay_lag_and_the_webhook(
    store: ArticleStore,
    redis_client: redis.Redis,
    stream: str,
    sqlite_url: str,
    redis_url: str,
    key_prefix: str,
    make_services: Callable[[Settings], Services],
) -> None:
    settings = Settings(
        redis_url=redis_url,
        database_url=sqlite_url,
        key_prefix=key_prefix,
        webhook_url="http://127.0.0.1:9/hook",
    )
    articles.stored(store, "a1")
    status = events_status(make_services(settings))
    assert status["stream"] == stream
    assert status["undelivered"] == 1
    assert status["webhook"]["failures"] == 0
