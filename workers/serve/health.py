"""Dependency probes: is Redis answering, is the database answering, each within a short timeout.

Behind /readyz, the dashboard's dependency badges and the `newsflow_redis_up` /
`newsflow_database_up` gauges. A probe never raises: it answers "ok" or the reason it failed.
`DEPENDENCY_ERRORS` are the exceptions that mean "a dependency is away" rather than "newsflow
has a bug": the server answers them with 503 and the reason, never with 500.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import redis
import sqlalchemy.exc
import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import text
from sqlalchemy.engine import Engine

from workers.errors import InfrastructureError

log = structlog.get_logger("newsflow.serve")

# Redis and the database may be slow under load; longer than this, and an orchestrator's probe
# (Kubernetes' default timeout is 1 s, ours are set to a few) would give up on us first.
PROBE_TIMEOUT_S = 2.0

REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError,)
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.DBAPIError,  # OperationalError and the rest of what the driver raised
    sqlalchemy.exc.TimeoutError,  # no pooled connection free in time
    sqlalchemy.exc.ArgumentError,  # DATABASE_URL names no usable database (driver, syntax)
)
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    *REDIS_ERRORS,
    *DATABASE_ERRORS,
    InfrastructureError,  # what our adapters raise for the two above (a failed publish, ...)
)

OK = "ok"


def describe_error(exc: BaseException) -> str:
    """A one-line reason for an operator: the error's class and first line, without the
    SQL statement or SQLAlchemy's help link."""
    if isinstance(exc, redis.RedisError):
        where = "redis"
    elif isinstance(exc, DATABASE_ERRORS):
        where = "database"
    else:
        where = "dependency"
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{where} unavailable: {type(inner).__name__}: {first}"[:300]


def probe_redis(client: Any) -> str:
    """PING through `client` (whose sockets carry the timeouts); "ok" or the reason."""
    try:
        client.ping()
    except Exception as exc:
        return describe_error(exc)
    return OK


def probe_database(engine: Engine) -> str:
    """`SELECT 1` on `engine` (whose connections carry the timeouts); "ok" or the reason."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # A statement stuck behind a lock or an overloaded server still answers in time.
                timeout_ms = int(PROBE_TIMEOUT_S * 1000)
                conn.execute(text(f"SET statement_timeout = {timeout_ms}"))
            conn.execute(text("SELECT 1"))
            conn.rollback()
    except Exception as exc:  # a probe reports whatever stops it (a bad URL included)
        return describe_error(exc)
    return OK


def limit_connect_time(engine: Engine, seconds: float) -> Engine:
    """Make every new connection of `engine` give up after `seconds` (PostgreSQL's
    connect_timeout; SQLite opens a file and needs none)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy import event

        @event.listens_for(engine, "do_connect")
        def _timeout(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            # libpq counts whole seconds and treats anything below 2 as 2.
            cparams.setdefault("connect_timeout", max(2, round(seconds)))

    return engine


class Readiness:
    """Both probes, answered as /readyz and the dashboard show them."""

    def __init__(self, redis_client: Any, engine_factory: Any) -> None:
        self._redis = redis_client
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def _probe_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._engine_factory()
            return self._engine

    def check(self) -> dict[str, str]:
        try:
            database = probe_database(self._probe_engine())
        except Exception as exc:  # the engine itself could not be made (a bad URL)
            database = describe_error(exc)
        return {"redis": probe_redis(self._redis), "database": database}

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


class DependencyCollector:
    """`newsflow_redis_up` and `newsflow_database_up`, unless the metrics collector beside it
    already serves them (see `ServeCollector`)."""

    NAMES = ("newsflow_redis_up", "newsflow_database_up")

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness

    def collect(self, already: frozenset[str] = frozenset()) -> Iterator[Metric]:
        if all(name in already for name in self.NAMES):
            return
        answers = self._readiness.check()
        if "newsflow_redis_up" not in already:
            yield GaugeMetricFamily(
                "newsflow_redis_up",
                "1 when Redis answered a PING from newsflow serve, else 0",
                value=1 if answers["redis"] == OK else 0,
            )
        if "newsflow_database_up" not in already:
            yield GaugeMetricFamily(
                "newsflow_database_up",
                "1 when the database answered SELECT 1 from newsflow serve, else 0",
                value=1 if answers["database"] == OK else 0,
            )


class ServeCollector:
    """What /metrics serves: the metrics collector's families, as many as it produced before a
    dependency failed (a down Redis or database ends its collection early: the scrape still
    answers, with the gauges below at 0), then the dependency gauges it does not serve itself."""

    def __init__(self, inner: Any, dependencies: DependencyCollector) -> None:
        self._inner = inner
        self._dependencies = dependencies

    def collect(self) -> Iterator[Metric]:
        served: set[str] = set()
        try:
            for metric in self._inner.collect():
                served.add(metric.name)
                yield metric
        except DEPENDENCY_ERRORS as exc:
            log.warning("metrics_collected_partly", error=describe_error(exc), served=len(served))
        yield from self._dependencies.collect(frozenset(served))
