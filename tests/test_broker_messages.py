"""A stage message carries the article id and what a delivery needs, nothing more: Celery's
default-valued headers are left out, and the worker reads the message exactly as a full one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.worker.request import Request

from workers.app import create_app
from workers.models import SlotReservation
from workers.pipeline import Stage
from workers.queueing import CeleryPublisher
from workers.settings import Settings

ARTICLE = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=[False, True], ids=["direct", "task-events"])
def celery(
    request: pytest.FixtureRequest, redis_url: str, key_prefix: str, redis_client: redis.Redis
) -> Iterator[Any]:
    """The production app, with its queues under the test's own key prefix; once as it is by
    default (the publisher writes messages itself) and once with Celery's task events on (the
    publisher goes through send_task, which emits task-sent for Flower): the same messages.
    Taking `redis_client` makes the prefix's keys (kombu's bindings too) go after the app."""
    settings = Settings.from_env().with_overrides(
        redis_url=redis_url, celery_task_events=request.param
    )
    app = create_app(settings)
    transport = dict(app.conf.broker_transport_options)
    app.conf.broker_transport_options = {**transport, "global_keyprefix": f"{key_prefix}:"}
    yield app
    app.close()


def raw_message(client: redis.Redis, key_prefix: str, queue: str) -> bytes:
    raw = client.lindex(f"{key_prefix}:{queue}", -1)
    assert raw is not None, f"nothing queued on {queue}"
    return bytes(raw)


def test_a_stage_message_holds_only_what_a_delivery_reads(
    celery: Any, redis_client: redis.Redis, key_prefix: str
) -> None:
    CeleryPublisher(celery).send(Stage.CLEAN, ARTICLE)
    raw = raw_message(redis_client, key_prefix, "clean")
    message = json.loads(raw)
    assert set(message["headers"]) == {"task", "id", "origin", "article_id", "enqueued_at"}
    assert message["properties"]["body_encoding"] == "utf-8"
    assert json.loads(message["body"]) == [[ARTICLE], {}, {}]
    # Was 1,091 bytes with Celery's full envelope (docs/performance.md).
    assert len(raw) < 700


def test_what_a_delivery_needs_besides_the_id_still_travels(
    celery: Any, redis_client: redis.Redis, key_prefix: str
) -> None:
    slot = SlotReservation("example.org", 1_800_000_000.5)
    CeleryPublisher(celery).send(Stage.CLEAN, ARTICLE, reservation=slot, infra_attempt=2)
    headers = json.loads(raw_message(redis_client, key_prefix, "clean"))["headers"]
    assert headers["slot"] == ["example.org", 1_800_000_000.5]
    assert headers["infra_attempt"] == 2


def test_the_worker_reads_a_lean_message_with_celerys_defaults(celery: Any) -> None:
    """Celery's own Request, built from the message as a worker receives it: the same id,
    task, arguments and our headers; no per-message time limit (the worker's apply), no ETA,
    no expiry, no retries."""
    CeleryPublisher(celery).send(Stage.CLEAN, ARTICLE)
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue("clean")
        message = queue.get(timeout=5)
        import workers.tasks

        request = Request(message, app=celery, task=workers.tasks.app.tasks["newsflow.clean"])
        assert request.name == "newsflow.clean"
        assert request.id == message.headers["id"]
        assert request.args == [ARTICLE]
        assert request.kwargs == {}
        assert request.time_limits == (None, None)
        assert request.eta is None
        assert request.expires is None
        assert request.request_dict.get("retries", 0) == 0
        assert request.request_dict["article_id"] == ARTICLE
        message.ack()
        queue.close()


def test_a_batch_message_names_its_articles_as_the_tasks_arguments(
    celery: Any, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Several articles ready at once travel in one message: the ids are the task's
    arguments, the headers bind it to no single article, and Celery's Request reads it as it
    reads one article's message."""
    others = [f"{n:032x}" for n in range(1, 8)]
    CeleryPublisher(celery).send_batch(Stage.CLEAN, [ARTICLE, *others])
    raw = raw_message(redis_client, key_prefix, "clean")
    assert redis_client.llen(f"{key_prefix}:clean") == 1
    message = json.loads(raw)
    assert set(message["headers"]) == {"task", "id", "origin", "batch", "enqueued_at"}
    assert message["headers"]["batch"] == 8
    assert json.loads(message["body"]) == [[ARTICLE, *others], {}, {}]
    # Eight articles for ~35% more bytes than one article's message.
    assert len(raw) < 950
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue("clean")
        received = queue.get(timeout=5)
        import workers.tasks

        request = Request(received, app=celery, task=workers.tasks.app.tasks["newsflow.clean"])
        assert request.args == [ARTICLE, *others]
        assert "article_id" not in request.request_dict
        received.ack()
        queue.close()


def test_a_publisher_made_from_settings_writes_the_same_message_without_importing_celery(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """`newsflow ingest` publishes without making a Celery app (~0.4 s of imports): in a fresh
    interpreter, the message it writes is the app's, and Celery was never imported."""
    import subprocess
    import sys
    import uuid

    article = uuid.uuid4().hex
    script = (
        "import sys\n"
        "from workers.pipeline import Stage\n"
        "from workers.queueing import CeleryPublisher\n"
        "from workers.settings import Settings\n"
        f"publisher = CeleryPublisher.for_settings(Settings(redis_url={redis_url!r}))\n"
        f"publisher.send_batch(Stage.CLASSIFY, [{article!r}, {ARTICLE!r}])\n"
        "assert 'celery' not in sys.modules, 'celery was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    ours = [raw for raw in redis_client.lrange("classify", 0, -1) if article.encode() in bytes(raw)]
    assert len(ours) == 1
    redis_client.lrem("classify", 0, ours[0])
    message = json.loads(ours[0])
    assert message["headers"]["task"] == "newsflow.classify"
    assert set(message["headers"]) == {"task", "id", "origin", "batch", "enqueued_at"}
    assert json.loads(message["body"]) == [[article, ARTICLE], {}, {}]


def test_a_publisher_made_from_settings_publishes_where_the_apps_own_would(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """`for_settings` reads the broker's URL and key prefix from the settings, not from an
    app: should the app's transport options ever change where messages go, this says so."""
    import uuid

    settings = Settings(redis_url=redis_url)
    app = create_app(settings)
    by_app, by_settings = uuid.uuid4().hex, uuid.uuid4().hex
    try:
        CeleryPublisher(app).send(Stage.CLASSIFY, by_app)
        CeleryPublisher.for_settings(settings).send(Stage.CLASSIFY, by_settings)
    finally:
        app.close()
    headers = {}
    for raw in redis_client.lrange("classify", 0, -1):
        for article in (by_app, by_settings):
            if article.encode() in bytes(raw):
                redis_client.lrem("classify", 0, raw)
                headers[article] = set(json.loads(raw)["headers"])
    assert set(headers) == {by_app, by_settings}  # both on the queue workers consume
    assert headers[by_app] == headers[by_settings]


def test_a_publisher_made_from_settings_sends_through_celery_when_task_events_are_on(
    redis_url: str, redis_client: redis.Redis
) -> None:
    import uuid

    article = uuid.uuid4().hex
    settings = Settings(redis_url=redis_url, celery_task_events=True)
    # kombu records its queue bindings in unprefixed keys on first publish: ours go after.
    bindings_before = set(redis_client.keys("_kombu.binding*"))
    try:
        CeleryPublisher.for_settings(settings).send(Stage.CLASSIFY, article)
    finally:
        for key in set(redis_client.keys("_kombu.binding*")) - bindings_before:
            redis_client.delete(key)
    ours = [raw for raw in redis_client.lrange("classify", 0, -1) if article.encode() in bytes(raw)]
    assert len(ours) == 1
    redis_client.lrem("classify", 0, ours[0])
    # Celery's send_task, trimmed by the app's lean envelope: the same headers as a direct one.
    headers = json.loads(ours[0])["headers"]
    assert {"task", "id", "article_id", "enqueued_at"} <= set(headers)
    assert "retries" not in headers


def test_a_lost_broker_is_an_infrastructure_error_and_nothing_is_sent(celery: Any) -> None:
    """The article stays queued in the store; the reconciler sends it once Redis is back."""
    from workers.errors import InfrastructureError

    celery.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    # The app reconnects for as long as it takes by default (a worker outlives a broker
    # restart); here the send_task path must give up at once so the error is seen.
    celery.conf.broker_connection_max_retries = 0
    celery.conf.broker_transport_options = {
        **celery.conf.broker_transport_options,
        "max_retries": 0,
    }
    with pytest.raises(InfrastructureError) as err:
        CeleryPublisher(celery).send(Stage.FETCH, ARTICLE)
    assert err.value.reason == "broker_unavailable"


def test_other_apps_messages_are_left_as_celery_makes_them(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    """The trimming is for newsflow's own tasks: a task of another app sharing the process
    keeps Celery's full envelope."""
    other = create_app(Settings.from_env().with_overrides(redis_url=redis_url))
    transport = dict(other.conf.broker_transport_options)
    other.conf.broker_transport_options = {**transport, "global_keyprefix": f"{key_prefix}:"}
    other.send_task("somebody.else", args=[1], queue="fetch", routing_key="fetch")
    headers = json.loads(raw_message(redis_client, key_prefix, "fetch"))["headers"]
    assert headers["argsrepr"] == "[1]"
    assert "retries" in headers
    other.close()
