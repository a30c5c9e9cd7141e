"""`newsflow serve`'s handlers, called as plain functions against the real Redis and a real
store: health and readiness, the overview section by section, traces, the replay token rules,
/metrics with a dependency down, and the dashboard page."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from workers.pipeline import Stage, Status
from workers.serve.context import ServeContext
from workers.serve.http import Request, Response, Router
from workers.serve.routes import ROUTES, dashboard_html
from workers.settings import Settings
from workers.store import EventRecord

MakeContext = Callable[..., ServeContext]


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def make_context(
    redis_url: str, key_prefix: str, sqlite_url: str, redis_client: redis.Redis
) -> Iterator[MakeContext]:
    """A ServeContext on the test Redis namespace and a fresh SQLite store (overridable)."""
    made: list[ServeContext] = []

    def make(**overrides: Any) -> ServeContext:
        base = {"redis_url": redis_url, "database_url": sqlite_url, "key_prefix": key_prefix}
        made.append(ServeContext(Settings().with_overrides(**{**base, **overrides})))
        return made[-1]

    yield make
    for ctx in made:
        ctx.close()


def call(ctx: ServeContext, method: str, path: str, **kwargs: Any) -> Response:
    return Router(ROUTES).dispatch(Request(method, path, app=ctx, **kwargs))


def payload(response: Response) -> Any:
    return json.loads(response.body)


# --- health ---------------------------------------------------------------------------------


def test_healthz_answers_200_even_with_every_dependency_down(make_context: MakeContext) -> None:
    ctx = make_context(
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/none",
    )
    assert call(ctx, "GET", "/healthz").status == 200


def test_readyz_is_200_when_redis_and_the_database_answer(make_context: MakeContext) -> None:
    answer = call(make_context(), "GET", "/readyz")
    assert answer.status == 200
    assert payload(answer) == {"redis": "ok", "database": "ok"}


def test_readyz_is_503_with_the_reason_when_redis_is_on_a_closed_port(
    make_context: MakeContext,
) -> None:
    ctx = make_context(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    answer = call(ctx, "GET", "/readyz")
    assert answer.status == 503
    body = payload(answer)
    assert body["database"] == "ok"
    assert body["redis"].startswith("redis unavailable: ConnectionError")


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql+psycopg://nobody@127.0.0.1:{port}/none",  # nothing listens
        "nosuchdriver://x/y",  # no such database kind
    ],
)
def test_readyz_is_503_with_the_reason_for_a_bad_database_url(
    make_context: MakeContext, database_url: str
) -> None:
    ctx = make_context(database_url=database_url.format(port=closed_port()))
    answer = call(ctx, "GET", "/readyz")
    assert answer.status == 503
    body = payload(answer)
    assert body["redis"] == "ok"
    assert body["database"].startswith("database unavailable: ")


# --- overview -------------------------------------------------------------------------------


def seed(ctx: ServeContext) -> str:
    """One stored article with its events a minute ago, and one quarantined article."""
    store = ctx.services.store
    now = datetime.now(UTC)
    aid = store.create_article("https://news.example/a", "test")
    store.add_event(
        EventRecord(aid, "article_fetched", "fetch", "ok", now, duration_ms=120.0, queue_wait_ms=5)
    )
    failed = store.create_article("https://news.example/broken", "test")
    store.mark_failed(failed, Stage.FETCH, "http_404: not found")
    return aid


def test_the_overview_has_every_section_when_all_is_up(make_context: MakeContext) -> None:
    ctx = make_context()
    seed(ctx)
    body = payload(call(ctx, "GET", "/api/overview"))
    for section in ("queues", "in_flight", "scheduler", "articles", "throughput", "latency"):
        assert "error" not in body[section], section
    assert body["articles"] == {"failed": 1, "queued": 1}
    # The quarantined one counts too: mark_failed records its article_failed event.
    assert body["throughput"]["totals"] == {"fetch": {"ok": 1, "quarantined": 1}}
    assert body["latency"]["stages"]["fetch"]["duration_ms"]["p50"] == 120.0
    assert body["failures"]["articles"][0]["reason"] == "http_404: not found"
    assert set(body["queues"]) == {"crawl", "fetch", "clean", "dedup", "classify"}
    assert body["dependencies"] == {"redis": "ok", "database": "ok"}
    assert body["replay_enabled"] is False


def test_with_redis_down_the_overview_still_shows_the_database_sections(
    make_context: MakeContext,
) -> None:
    ctx = make_context(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    seed(ctx)
    answer = call(ctx, "GET", "/api/overview")
    assert answer.status == 200
    body = payload(answer)
    for section in ("queues", "in_flight", "scheduler"):
        assert body[section]["error"].startswith("redis unavailable"), section
    assert body["articles"] == {"failed": 1, "queued": 1}
    # The quarantined one counts too: mark_failed records its article_failed event.
    assert body["throughput"]["totals"] == {"fetch": {"ok": 1, "quarantined": 1}}
    assert body["feeds"]["total"] == 0
    assert body["dependencies"]["redis"].startswith("redis unavailable")


def test_with_the_database_down_the_overview_still_shows_the_redis_sections(
    make_context: MakeContext, redis_client: redis.Redis, key_prefix: str
) -> None:
    redis_client.set(f"{key_prefix}:scheduler:last_tick", "1000.0")
    ctx = make_context(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/x")
    answer = call(ctx, "GET", "/api/overview")
    assert answer.status == 200
    body = payload(answer)
    for section in ("articles", "throughput", "latency", "feeds", "failures", "stranded"):
        assert body[section]["error"].startswith("database unavailable"), section
    assert body["scheduler"]["last_tick"] == 1000.0
    assert body["queues"]["clean"]["depth"] == 0


def test_a_section_that_fails_on_a_bug_reports_an_error_id_and_the_rest_stand(
    make_context: MakeContext,
) -> None:
    from workers.serve.overview import SECTIONS, build_overview

    def buggy(_ctx: ServeContext, _now: float) -> Any:
        raise ZeroDivisionError

    body = build_overview(make_context(), {**SECTIONS, "articles": buggy})
    assert body["articles"]["error"] == "internal error"
    assert re.fullmatch(r"[0-9a-f]{12}", body["articles"]["error_id"])
    assert "error" not in body["queues"]


def test_queues_show_the_age_of_their_oldest_message_and_their_workers(
    make_context: MakeContext, redis_client: redis.Redis, key_prefix: str
) -> None:
    from workers.adapters.stage_guard import Heartbeat

    Heartbeat(redis_client, key_prefix, queues=["clean"]).beat()
    ctx = make_context()
    queue = f"{key_prefix}:clean"  # a queue of our own: the real "clean" list is shared
    older, newer = ctx.clock() - 90, ctx.clock() - 10
    for at in (older, newer):  # kombu pushes on the left: the oldest ends up at the right
        redis_client.lpush(queue, json.dumps({"headers": {"enqueued_at": at}}))
    from workers.reconciler import RedisQueueProbe

    assert RedisQueueProbe(redis_client).oldest_enqueued_at(queue) == older
    body = payload(call(ctx, "GET", "/api/overview"))
    assert body["queues"]["clean"]["workers"] == 1
    assert body["queues"]["clean"]["hosts"] == 1
    assert body["queues"]["fetch"]["workers"] == 0


# --- trace ----------------------------------------------------------------------------------


def test_a_trace_is_found_by_id_and_by_url(make_context: MakeContext) -> None:
    ctx = make_context()
    aid = seed(ctx)
    by_id = payload(call(ctx, "GET", f"/api/trace/{aid}"))
    by_url = payload(call(ctx, "GET", "/api/trace/https%3A%2F%2Fnews.example%2Fa"))
    assert by_id["articles"] == by_url["articles"]
    [entry] = by_id["articles"]
    assert entry["article"]["id"] == aid
    assert [e["event"] for e in entry["events"]] == ["article_fetched"]
    assert "text" not in entry["article"]


def test_a_trace_of_nothing_is_404(make_context: MakeContext) -> None:
    assert call(make_context(), "GET", "/api/trace/nope").status == 404


def test_a_trace_with_the_database_down_is_503_not_500(make_context: MakeContext) -> None:
    ctx = make_context(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/x")
    assert call(ctx, "GET", "/api/trace/abc").status == 503


# --- replay ---------------------------------------------------------------------------------


def replay(ctx: ServeContext, body: Any = None, auth: str | None = None) -> Response:
    headers = {"Authorization": auth} if auth else {}
    raw = b"" if body is None else json.dumps(body).encode()
    return call(ctx, "POST", "/api/replay", headers=headers, body=raw)


def test_replay_is_refused_when_no_token_is_configured(make_context: MakeContext) -> None:
    ctx = make_context()
    answer = replay(ctx, {"ids": []}, "Bearer anything")
    assert answer.status == 403
    assert "NEWSFLOW_SERVE_TOKEN" in payload(answer)["error"]


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic s3cret-token", "s3cret-token"])
def test_replay_is_refused_without_the_right_bearer_token(
    make_context: MakeContext, auth: str | None
) -> None:
    ctx = make_context(serve_token="s3cret-token")
    failed = ctx.services.store.create_article("https://news.example/broken", "test")
    ctx.services.store.mark_failed(failed, Stage.FETCH, "http_404")
    assert replay(ctx, {"ids": [failed]}, auth).status == 403
    assert ctx.services.store.status_of(failed) == Status.FAILED


def test_replay_with_the_token_sends_the_article_back_to_its_stage(
    make_context: MakeContext, redis_client: redis.Redis, key_prefix: str
) -> None:
    ctx = make_context(serve_token="s3cret-token")
    failed = ctx.services.store.create_article("https://news.example/broken", "test")
    ctx.services.store.mark_failed(failed, Stage.FETCH, "http_404")
    # The real broker, with this test's queues under its own key prefix.
    celery = ctx.celery()
    transport = dict(celery.conf.broker_transport_options)
    celery.conf.broker_transport_options = {**transport, "global_keyprefix": f"{key_prefix}:"}
    answer = replay(ctx, {"ids": [failed]}, "Bearer s3cret-token")
    assert answer.status == 200
    assert payload(answer) == {"replayed": [{"id": failed, "stage": "fetch"}]}
    queued = [json.loads(m) for m in redis_client.lrange(f"{key_prefix}:fetch", 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["article_id"]) for m in queued] == [
        ("newsflow.fetch", failed)
    ]
    assert ctx.services.store.status_of(failed) == Status.QUEUED


def test_replay_refuses_a_body_that_is_not_a_list_of_ids(make_context: MakeContext) -> None:
    ctx = make_context(serve_token="t")
    assert replay(ctx, {"ids": "abc"}, "Bearer t").status == 400
    assert call(ctx, "POST", "/api/replay", headers={"Authorization": "Bearer t"},
                body=b"{not json").status == 400  # fmt: skip


# --- metrics --------------------------------------------------------------------------------


def test_metrics_serve_the_collector_and_the_dependency_gauges(make_context: MakeContext) -> None:
    answer = call(make_context(), "GET", "/metrics")
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    text = answer.body.decode()
    assert 'newsflow_queue_depth{queue="clean"} 0.0' in text
    assert "newsflow_redis_up 1.0" in text
    assert "newsflow_database_up 1.0" in text


def test_metrics_with_redis_down_answer_200_and_say_so(make_context: MakeContext) -> None:
    ctx = make_context(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    answer = call(ctx, "GET", "/metrics")
    assert answer.status == 200
    text = answer.body.decode()
    assert "newsflow_redis_up 0.0" in text
    assert "newsflow_database_up 1.0" in text


def test_the_dependency_gauges_are_not_served_twice() -> None:
    from prometheus_client.core import GaugeMetricFamily

    from workers.serve.health import DependencyCollector, Readiness, ServeCollector

    class Inner:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield GaugeMetricFamily("newsflow_redis_up", "served by the collector", value=1)

    class Up:
        def ping(self) -> bool:
            return True

    readiness = Readiness(Up(), lambda: (_ for _ in ()).throw(ValueError("no database")))
    names = [m.name for m in ServeCollector(Inner(), DependencyCollector(readiness)).collect()]
    assert names == ["newsflow_redis_up", "newsflow_database_up"]


# --- the page -------------------------------------------------------------------------------


def test_the_dashboard_is_one_self_contained_page(make_context: MakeContext) -> None:
    answer = call(make_context(), "GET", "/")
    assert answer.status == 200
    assert answer.content_type.startswith("text/html")
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    html = dashboard_html().decode()
    # Nothing loaded from anywhere: no external script, style, font or image.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
    assert "api/overview" in html
    assert "innerHTML" not in html  # store text is set as text, never parsed as markup


def test_the_dashboard_page_is_package_data_so_it_installs() -> None:
    import fnmatch
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["*"]
    assert any(fnmatch.fnmatch("dashboard.html", g) for g in globs)


# --- the read API -----------------------------------------------------------------------------


def test_an_article_is_served_by_id_with_the_event_payload_field_names(
    make_context: MakeContext,
) -> None:
    ctx = make_context()
    aid = seed(ctx)
    found = call(ctx, "GET", f"/api/articles/{aid}")
    assert found.status == 200
    body = payload(found)
    assert body["article_id"] == aid
    assert body["url"] == "https://news.example/a"
    assert call(ctx, "GET", "/api/articles/nope").status == 404


def test_articles_are_listed_by_status_a_page_at_a_time(make_context: MakeContext) -> None:
    ctx = make_context()
    seed(ctx)
    failed = payload(call(ctx, "GET", "/api/articles", query={"status": ["failed"]}))
    assert [a["url"] for a in failed["articles"]] == ["https://news.example/broken"]
    first = payload(call(ctx, "GET", "/api/articles", query={"limit": ["1"]}))
    assert len(first["articles"]) == 1
    assert first["next_cursor"]
    second = payload(
        call(ctx, "GET", "/api/articles", query={"limit": ["1"], "cursor": [first["next_cursor"]]})
    )
    assert len(second["articles"]) == 1
    assert second["articles"][0]["article_id"] != first["articles"][0]["article_id"]
    assert second["next_cursor"] is None


def test_a_parameter_the_api_cannot_use_is_a_400_with_the_reason(
    make_context: MakeContext,
) -> None:
    refused = call(make_context(), "GET", "/api/articles", query={"limit": ["many"]})
    assert refused.status == 400
    assert payload(refused)["error"]


def test_the_article_api_with_the_database_down_is_503_not_500(make_context: MakeContext) -> None:
    ctx = make_context(database_url=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/x")
    assert call(ctx, "GET", "/api/articles").status == 503
