"""What the handlers of `newsflow serve` share: settings, connections, the metrics registry.

Connections here carry short timeouts (the workers' own do not need them): a Redis or a
database that stops answering makes a request fail in seconds with the reason, instead of
holding a server thread for minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import redis
from prometheus_client.registry import CollectorRegistry

from workers.serve.health import (
    PROBE_TIMEOUT_S,
    DependencyCollector,
    Readiness,
    ServeCollector,
    limit_connect_time,
)
from workers.services import Services
from workers.settings import Settings
from workers.store import ArticleStore, migrate, open_store
from workers.store.repository import make_engine

# A Redis command taking longer than this is a Redis in trouble: say so rather than wait.
REDIS_SOCKET_TIMEOUT_S = 5.0
# Several browsers polling the dashboard every few seconds cost one computation per this long.
OVERVIEW_TTL_S = 2.0


class ServeServices(Services):
    """`Services` with timeouts on every connection, built safely from many threads."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._build_lock = threading.RLock()

    @cached_property
    def redis(self) -> redis.Redis:
        with self._build_lock:
            return redis.Redis.from_url(
                self.settings.redis_url,
                socket_connect_timeout=PROBE_TIMEOUT_S,
                socket_timeout=REDIS_SOCKET_TIMEOUT_S,
                health_check_interval=30,
            )

    @cached_property
    def store(self) -> ArticleStore:
        with self._build_lock:
            if "store" in self.__dict__:  # another thread built it while this one waited
                return self.__dict__["store"]  # type: ignore[no-any-return]
            store = open_store(self.settings.database_url, migrate_schema=False)
            limit_connect_time(store.engine, PROBE_TIMEOUT_S)
            try:
                # As `newsflow status` does: a fresh database gets its tables (so the page
                # shows an empty deployment, not errors, before the first worker starts).
                migrate.upgrade(store.engine)
            except BaseException:
                store.engine.dispose()
                raise  # not cached: the next request tries again
            return store


class ServeContext:
    """The process-wide state of `newsflow serve`: built once, shared by every request."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        from workers.metrics import NewsflowCollector

        self.settings = settings
        self.clock = clock
        self.services = ServeServices(settings)
        self.readiness = Readiness(
            self.services.redis,
            lambda: limit_connect_time(make_engine(settings.database_url), PROBE_TIMEOUT_S),
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            ServeCollector(NewsflowCollector(self.services), DependencyCollector(self.readiness))
        )
        self._celery: Any = None
        self._lock = threading.Lock()
        self._overview: tuple[float, dict[str, Any]] | None = None
        self._overview_lock = threading.Lock()

    @property
    def replay_enabled(self) -> bool:
        return bool(self.settings.serve_token)

    def celery(self) -> Any:
        """A Celery app for publishing (replay), made on first use."""
        with self._lock:
            if self._celery is None:
                from workers.app import create_app

                self._celery = create_app(self.settings)
            return self._celery

    def overview(self) -> dict[str, Any]:
        """The dashboard's data, computed at most once per OVERVIEW_TTL_S for all callers."""
        from workers.serve.overview import build_overview

        with self._overview_lock:
            now = time.monotonic()
            if self._overview is not None and now - self._overview[0] < OVERVIEW_TTL_S:
                return self._overview[1]
            fresh = build_overview(self)
            self._overview = (time.monotonic(), fresh)
            return fresh

    def forget_overview(self) -> None:
        """Drop the cached overview (after a replay changed what it shows)."""
        with self._overview_lock:
            self._overview = None

    def close(self) -> None:
        self.readiness.close()
        if self._celery is not None:
            self._celery.close()
        self.services.close()
