"""Per-process wiring of the effects stages need: store, Redis, HTTP fetcher, dedup index, models.

Built lazily on first use and rebuilt after a fork (prefork children must not share sockets with
their parent). Tests and the CLI build their own `Services` from explicit settings.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import redis

from workers.settings import Settings
from workers.store import ArticleStore, open_store
from workers.store.feeds import FeedStore

if TYPE_CHECKING:
    from workers.adapters.crawl_stats import CrawlCounters
    from workers.adapters.dedup_index import RedisDedupIndex
    from workers.adapters.deferrals import RedisDeferrals
    from workers.adapters.seen_urls import RedisSeenUrls
    from workers.adapters.stage_guard import Heartbeat, RedisStageGuard
    from workers.fetching.http import HttpFetcher
    from workers.stages.classify import ClassifierProvider
    from workers.store.events import EventLog


class Services:
    def __init__(self, settings: Settings, threads: int = 1) -> None:
        self.settings = settings
        # How many threads of this process run stages at once: the store keeps a connection
        # for each (a threads pool's worker; one for a prefork child, the CLI, the scheduler).
        self.threads = threads

    @cached_property
    def store(self) -> ArticleStore:
        return open_store(self.settings.database_url, threads=self.threads)

    @cached_property
    def feeds(self) -> FeedStore:
        return FeedStore(self.store.engine)

    @cached_property
    def redis(self) -> redis.Redis:
        # A connect that cannot succeed fails in seconds, not the OS's minutes: the metrics
        # collector and health checks report Redis down instead of hanging their scrape.
        return redis.Redis.from_url(
            self.settings.redis_url, health_check_interval=30, socket_connect_timeout=5
        )

    @cached_property
    def fetcher(self) -> HttpFetcher:
        from workers.adapters.ratelimit import HostRateLimiter
        from workers.adapters.robots import RobotsChecker
        from workers.fetching.http import FetchPolicy, HttpFetcher

        policy = FetchPolicy.from_settings(self.settings)
        return HttpFetcher(
            policy,
            robots=RobotsChecker(self.redis, self.settings.key_prefix, policy.user_agent),
            limiter=HostRateLimiter.from_settings(self.redis, self.settings),
        )

    @cached_property
    def crawl_counters(self) -> CrawlCounters:
        from workers.adapters.crawl_stats import CrawlCounters

        return CrawlCounters(self.redis, self.settings.key_prefix)

    @cached_property
    def events(self) -> EventLog:
        from workers.store.events import EventLog

        return EventLog(self.store.engine)

    @cached_property
    def seen_urls(self) -> RedisSeenUrls:
        from workers.adapters.seen_urls import RedisSeenUrls

        return RedisSeenUrls(self.redis, self.settings.key_prefix)

    @cached_property
    def dedup_index(self) -> RedisDedupIndex:
        from workers.adapters.dedup_index import RedisDedupIndex

        return RedisDedupIndex(
            self.redis,
            key_prefix=self.settings.key_prefix,
            window_seconds=int(self.settings.dedup_window_days * 86400),
        )

    @cached_property
    def stage_guard(self) -> RedisStageGuard:
        from workers.adapters.stage_guard import RedisStageGuard

        return RedisStageGuard(self.redis, self.settings.key_prefix, self.settings.lock_seconds)

    @cached_property
    def heartbeat(self) -> Heartbeat:
        from workers.adapters.stage_guard import Heartbeat

        return Heartbeat(self.redis, self.settings.key_prefix)

    @cached_property
    def deferrals(self) -> RedisDeferrals:
        from workers.adapters.deferrals import RedisDeferrals

        return RedisDeferrals(self.redis, self.settings.key_prefix)

    @cached_property
    def classifiers(self) -> ClassifierProvider:
        from workers.adapters.model_registry import ModelRegistry
        from workers.stages.classify import ClassifierProvider

        return ClassifierProvider(
            self.settings.taxonomy_path or None,
            self.settings.uncertain_threshold,
            ModelRegistry(self.redis, self.settings.key_prefix),
        )

    def close(self) -> None:
        """Release the connections this object opened (those never used were never opened)."""
        opened = self.__dict__
        if "heartbeat" in opened:
            self.heartbeat.stop()
        if "fetcher" in opened:
            self.fetcher.close()
        if "store" in opened:
            self.store.engine.dispose()
        if "redis" in opened:
            self.redis.close()

    def key(self, *parts: str) -> str:
        """A Redis key under this deployment's prefix: every newsflow key starts "PREFIX:"."""
        return ":".join((self.settings.key_prefix, *parts))


_services: Services | None = None
_threads = 1


def run_stages_in_threads(threads: int) -> None:
    """Say, before the services are built, that this process runs `threads` stages at once
    (`newsflow worker --pool threads`)."""
    global _threads
    _threads = threads


def get_services() -> Services:
    global _services
    if _services is None:
        _services = Services(Settings.from_env(), threads=_threads)
    return _services


def reset_services() -> None:
    """Forget per-process connections (called in each forked worker child)."""
    global _services
    _services = None
