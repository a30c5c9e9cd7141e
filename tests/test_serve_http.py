"""The HTTP layer of `newsflow serve`: routes match paths, handlers are plain functions, and
what escapes a handler becomes an answer (503 for a dependency, 500 with an error id for a bug)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy.exc
import structlog
import structlog.testing

from workers.serve import http as http_module
from workers.serve.http import Request, Response, Route, Router, json_response, make_server
from workers.serve.routes import ROUTES


def echo(request: Request) -> Response:
    return json_response(200, {"params": dict(request.params), "method": request.method})


def body_of(response: Response) -> dict[str, object]:
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_the_route_table_declares_every_endpoint_once() -> None:
    routes = {(r.method, r.pattern) for r in ROUTES}
    assert routes == {
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/api/overview"),
        ("GET", "/api/trace/{target:path}"),
        ("GET", "/api/articles"),
        ("GET", "/api/articles/{article_id}"),
        ("POST", "/api/replay"),
    }
    assert len(routes) == len(ROUTES)
    Router(ROUTES)  # refuses duplicates, so the table builds


def test_a_route_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Router([Route("GET", "/a", echo), Route("GET", "/a", echo)])


def test_a_parameter_matches_one_segment_and_a_path_parameter_the_rest_decoded() -> None:
    router = Router(
        [Route("GET", "/api/articles/{id}", echo), Route("GET", "/api/trace/{target:path}", echo)]
    )
    one = router.dispatch(Request("GET", "/api/articles/abc%20d"))
    assert body_of(one)["params"] == {"id": "abc d"}
    assert router.dispatch(Request("GET", "/api/articles/a/b")).status == 404
    encoded = router.dispatch(Request("GET", "/api/trace/https%3A%2F%2Fnews.example%2Fa%3Fx%3D1"))
    assert body_of(encoded)["params"] == {"target": "https://news.example/a?x=1"}
    raw = router.dispatch(Request("GET", "/api/trace/https://news.example/a"))
    assert body_of(raw)["params"] == {"target": "https://news.example/a"}


def test_an_unknown_path_is_404_and_a_known_path_with_another_method_405() -> None:
    router = Router([Route("POST", "/api/replay", echo)])
    assert router.dispatch(Request("GET", "/nowhere")).status == 404
    wrong = router.dispatch(Request("GET", "/api/replay"))
    assert wrong.status == 405
    assert body_of(wrong)["allowed"] == ["POST"]


def test_head_is_answered_by_the_get_route() -> None:
    router = Router([Route("GET", "/healthz", echo)])
    assert router.dispatch(Request("HEAD", "/healthz")).status == 200


@pytest.mark.parametrize(
    "error",
    [
        redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    ],
)
def test_a_dependency_error_escaping_a_handler_is_503_with_the_reason(error: Exception) -> None:
    def broken(_request: Request) -> Response:
        raise error

    answer = Router([Route("GET", "/x", broken)]).dispatch(Request("GET", "/x"))
    assert answer.status == 503
    assert "unavailable" in str(body_of(answer)["error"])


def test_any_other_error_is_500_with_an_error_id_that_is_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def buggy(_request: Request) -> Response:
        raise KeyError("oops")

    # capture_logs, not capsys: where log lines are printed depends on which test configured
    # logging last; what is logged does not. The module's logger is a fresh one: an earlier
    # test that logged through it under a caching configuration (the services' own) would have
    # fixed its processors, and capture_logs could not see what it logs.
    monkeypatch.setattr(http_module, "log", structlog.get_logger("newsflow.serve"))
    with structlog.testing.capture_logs() as logged:
        answer = Router([Route("GET", "/x", buggy)]).dispatch(Request("GET", "/x"))
    assert answer.status == 500
    payload = body_of(answer)
    assert payload["error"] == "internal error"
    assert any(str(payload["error_id"]) in str(entry.values()) for entry in logged)


@pytest.fixture
def running() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, [Route("GET", "/echo/{id}", echo)], None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_the_server_answers_over_a_socket_with_the_handler_response(running: str) -> None:
    with urllib.request.urlopen(f"{running}/echo/7") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert json.loads(answer.read())["params"] == {"id": "7"}


def test_the_server_refuses_a_body_too_large_unread(running: str) -> None:
    request = urllib.request.Request(f"{running}/echo/7", data=b"x" * 70_000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    refused.value.close()
    assert refused.value.code == 413
