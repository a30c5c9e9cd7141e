"""The route table of `newsflow serve`, and its handlers (plain `Request -> Response`).

Add an endpoint by writing a handler and adding a `Route` to `ROUTES`; nothing else knows the
paths. Every endpoint but POST /api/replay only reads.
"""

from __future__ import annotations

import hmac
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import Any

from workers.serve.http import (
    HTML,
    Request,
    Response,
    Route,
    error_response,
    json_response,
)

# Replay from the page takes these many articles at most per request (as `newsflow replay`).
REPLAY_LIMIT = 1000


def healthz(_request: Request) -> Response:
    """Liveness: the process answers. Never looks at Redis or the database, so an outage of
    theirs does not get every newsflow process restarted."""
    return json_response(HTTPStatus.OK, {"status": "alive"})


def readyz(request: Request) -> Response:
    """Readiness: Redis answers a PING and the database a SELECT 1, each within a short
    timeout; 503 with the reason of each one that did not."""
    answers = request.context.readiness.check()
    ready = all(answer == "ok" for answer in answers.values())
    return json_response(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE, answers)


def metrics(request: Request) -> Response:
    """Prometheus text: newsflow's metrics collector, plus the dependency gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    body = generate_latest(request.context.registry)
    return Response(HTTPStatus.OK, CONTENT_TYPE_LATEST, body, {"Cache-Control": "no-store"})


def overview(request: Request) -> Response:
    """Everything the dashboard shows; a section whose dependency is down says why."""
    return json_response(HTTPStatus.OK, request.context.overview())


def trace(request: Request) -> Response:
    """An article's record and its stage events, by id, URL or canonical URL (as `newsflow
    trace`). A URL fetched several times gives each of its articles."""
    from workers.observe import timeline_rows

    target = request.params["target"].strip()
    store = request.context.services.store
    found = store.find(target)
    if not found:
        return error_response(HTTPStatus.NOT_FOUND, f"no article matches {target!r}")
    articles = []
    for article in found:
        record = article.to_dict()
        text = record.pop("text") or ""
        record["text_chars"] = len(text)
        articles.append({"article": record, "events": timeline_rows(store.events(article.id))})
    return json_response(HTTPStatus.OK, {"query": target, "articles": articles})


def article(request: Request) -> Response:
    """One article by id, text included, under the field names of the event payload's data."""
    from workers.api.articles import get_article

    found = get_article(request.context.services.store, request.params["article_id"])
    if found is None:
        return error_response(HTTPStatus.NOT_FOUND, "no such article")
    return json_response(HTTPStatus.OK, found)


def articles(request: Request) -> Response:
    """Articles filtered by status, label, language and time (since, until), newest first,
    a page at a time (limit, cursor); 400 for a parameter it cannot use."""
    from workers.api.articles import ApiError, list_articles

    params = {name: values[-1] for name, values in request.query.items() if values}
    try:
        return json_response(HTTPStatus.OK, list_articles(request.context.services.store, params))
    except ApiError as exc:
        return json_response(exc.status, exc.to_dict())


def _token_ok(request: Request, token: str) -> bool:
    scheme, _, given = (request.header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def replay(request: Request) -> Response:
    """Send quarantined articles back to the stage where they stopped (as `newsflow replay`):
    the ids of the JSON body `{"ids": [...]}`, or every failed article when it names none.
    Only with NEWSFLOW_SERVE_TOKEN set and `Authorization: Bearer <token>`; 403 otherwise."""
    ctx = request.context
    if not ctx.settings.serve_token:
        return error_response(
            HTTPStatus.FORBIDDEN, "replay over HTTP is off: set NEWSFLOW_SERVE_TOKEN to allow it"
        )
    if not _token_ok(request, ctx.settings.serve_token):
        return error_response(HTTPStatus.FORBIDDEN, "missing or wrong bearer token")
    try:
        payload = request.json()
    except ValueError:
        payload = None
    if payload is None and not request.body.strip():
        payload = {}
    ids = (payload.get("ids") or []) if isinstance(payload, dict) else None
    if ids is None or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return error_response(
            HTTPStatus.BAD_REQUEST, 'expected JSON {"ids": ["<article id>", ...]}'
        )
    if len(ids) > REPLAY_LIMIT:
        return error_response(HTTPStatus.BAD_REQUEST, f"at most {REPLAY_LIMIT} ids per request")

    from workers.pipeline import Status
    from workers.replay import replay_articles

    svc = ctx.services
    if not ids:
        ids = [a.id for a in svc.store.list_articles(status=Status.FAILED, limit=REPLAY_LIMIT)]
    replayed = replay_articles(svc, ctx.celery(), ids, Status.FAILED)
    ctx.forget_overview()
    return json_response(
        HTTPStatus.OK, {"replayed": [{"id": aid, "stage": stage} for aid, stage in replayed]}
    )


@cache
def dashboard_html() -> bytes:
    return resources.files("workers.serve").joinpath("dashboard.html").read_bytes()


# Inline script and style are the page's own (it loads nothing from anywhere); the policy
# keeps it that way should an article title ever smuggle markup in.
DASHBOARD_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
}


def dashboard(_request: Request) -> Response:
    """The live dashboard: one self-contained page polling /api/overview."""
    return Response(HTTPStatus.OK, HTML, dashboard_html(), DASHBOARD_HEADERS)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/", dashboard),
    Route("GET", "/healthz", healthz),
    Route("GET", "/readyz", readyz),
    Route("GET", "/metrics", metrics),
    Route("GET", "/api/overview", overview),
    Route("GET", "/api/trace/{target:path}", trace),
    Route("GET", "/api/articles", articles),
    Route("GET", "/api/articles/{article_id}", article),
    Route("POST", "/api/replay", replay),
)


def describe_routes() -> list[dict[str, Any]]:
    """Method, path and first docstring line of every route (for docs and tests)."""
    return [
        {
            "method": r.method,
            "path": r.pattern,
            "doc": ((r.handler.__doc__ or "").strip().splitlines() or [""])[0],
        }
        for r in ROUTES
    ]
