"""`newsflow scheduler` relays article ends to the stream, and runs the webhook sink when
NEWSFLOW_WEBHOOK_URL is set: the threads wired, against the real Redis, store and HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence

import redis

from tests import article_support as articles
from tests.test_events_webhook import Receiver
from tests.test_fetch_support import serve
from workers.models import SlotReservation
from workers.pipeline import Stage
from workers.scheduler import run_scheduler
from workers.services import Services
from workers.settings import Settings


class NoPublisher:
    def send(
        self,
        stage: Stage,
        article_id: str,
        reservation: SlotReservation | None = None,
        infra_attempt: int = 0,
    ) -> None:
        raise AssertionError("nothing is due in this test")

    def send_batch(self, stage: Stage, article_ids: Sequence[str]) -> None:
        raise AssertionError("nothing is due in this test")


def test_the_scheduler_relays_ends_and_posts_them_to_the_webhook(
    redis_url: str,
    sqlite_url: str,
    key_prefix: str,
    redis_client: redis.Redis,
    make_services: Callable[[Settings], Services],
) -> None:
    with serve() as server:
        receiver = Receiver(server, [200])
        settings = Settings(
            redis_url=redis_url,
            database_url=sqlite_url,
            key_prefix=key_prefix,
            webhook_url=receiver.url,
            webhook_secret="k",
            allow_hosts=f"127.0.0.1:{server.port}",
        )
        svc = make_services(settings)
        stop = threading.Event()
        scheduler = threading.Thread(
            target=run_scheduler, args=(svc, lambda url: None, NoPublisher(), 0.2, stop)
        )
        scheduler.start()
        try:
            time.sleep(1)  # the sink's group starts with the events after it first ran
            articles.stored(svc.store, "a1")
            deadline = time.monotonic() + 20
            while not receiver.taken and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            scheduler.join(10)
    [(_, fields)] = redis_client.xrange(settings.event_stream)
    [(body, headers)] = receiver.taken
    assert body == fields[b"event"]
    assert json.loads(body)["subject"] == "a1"
    assert headers["x-newsflow-signature"].startswith("sha256=")
