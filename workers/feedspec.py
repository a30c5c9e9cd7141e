"""A feed as an operator declares it (config/feeds.yaml, `newsflow feeds add`): plain values,
checked on construction. The polling state lives in the store (`workers.store.feeds`)."""

from __future__ import annotations

from dataclasses import dataclass

FEED_KINDS = ("rss", "atom", "sitemap", "news-sitemap", "urls", "auto")
# No feed is polled more often than once a minute, however it is configured.
MIN_INTERVAL_S = 60


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as an operator declares it (config/feeds.yaml, `feeds add`)."""

    url: str
    kind: str = "rss"
    interval_s: int = 900
    section: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.kind not in FEED_KINDS:
            raise ValueError(f"feed {self.url}: kind must be one of {', '.join(FEED_KINDS)}")
        if self.interval_s < MIN_INTERVAL_S:
            raise ValueError(f"feed {self.url}: interval must be at least {MIN_INTERVAL_S}s")
