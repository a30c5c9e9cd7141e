"""In-memory stand-ins for the runner's effects, so queue semantics are tested in milliseconds.

`MemoryStore` keeps the store's contract (status moves only from the status a stage expects,
results and events saved together); `tests/test_store.py` runs the same contract tests against
it and against the real store on SQLite and PostgreSQL, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workers.adapters.deferrals import DeferredDelivery
from workers.adapters.stage_guard import Admission
from workers.models import Classification, FetchedPage, SlotReservation
from workers.pipeline import PENDING, Stage, Status, status_before
from workers.store.repository import EventRecord, PendingArticle, StageInput, StageOutput


@dataclass
class MemoryArticle:
    id: str
    url: str
    status: Status = Status.QUEUED
    attempts: int = 0
    reason: str | None = None
    failed_stage: str | None = None
    due_at: datetime | None = None
    outputs: dict[str, StageOutput] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self.articles: dict[str, MemoryArticle] = {}
        self.events: list[EventRecord] = []
        self.down = False  # the database is unreachable: every call raises
        self.reads = 0  # stage-input reads: one per load_input, one per load_inputs

    def add(self, article_id: str, url: str, status: Status = Status.QUEUED) -> MemoryArticle:
        self.articles[article_id] = MemoryArticle(article_id, url, status)
        return self.articles[article_id]

    def event_names(self, article_id: str) -> list[str]:
        return [e.event for e in self.events if e.article_id == article_id]

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("database unreachable")

    def load_input(self, article_id: str, stage: Stage) -> StageInput | None:
        self._check()
        self.reads += 1
        return self._input(article_id)

    def load_inputs(self, article_ids: Sequence[str], stage: Stage) -> dict[str, StageInput]:
        self._check()
        self.reads += 1
        found = {i: self._input(i) for i in article_ids}
        return {i: inp for i, inp in found.items() if inp is not None}

    def _input(self, article_id: str) -> StageInput | None:
        a = self.articles.get(article_id)
        if a is None:
            return None
        return StageInput(article_id=a.id, url=a.url, status=a.status.value, attempts=a.attempts)

    def _waiting(self, article_id: str, stage: Stage) -> MemoryArticle | None:
        self._check()
        a = self.articles.get(article_id)
        return a if a is not None and a.status is status_before(stage) else None

    def complete_stage(
        self,
        article_id: str,
        stage: Stage,
        output: StageOutput,
        status: Status,
        events: Sequence[EventRecord],
    ) -> bool:
        a = self._waiting(article_id, stage)
        if a is None:
            return False
        a.status, a.attempts, a.reason = status, 0, None
        a.outputs[stage.value] = output
        self.events.extend(events)
        return True

    def record_retry(
        self,
        article_id: str,
        stage: Stage,
        reason: str,
        due_at: datetime,
        events: Sequence[EventRecord],
    ) -> bool:
        a = self._waiting(article_id, stage)
        if a is None:
            return False
        a.attempts += 1
        a.reason, a.due_at = reason, due_at
        self.events.extend(events)
        return True

    def record_deferral(
        self, article_id: str, stage: Stage, due_at: datetime, events: Sequence[EventRecord]
    ) -> bool:
        a = self._waiting(article_id, stage)
        if a is None:
            return False
        a.due_at = due_at
        self.events.extend(events)
        return True

    def finish(
        self,
        article_id: str,
        stage: Stage,
        status: Status,
        reason: str,
        events: Sequence[EventRecord],
    ) -> bool:
        a = self._waiting(article_id, stage)
        if a is None:
            return False
        a.status, a.reason, a.failed_stage = status, reason, stage.value
        self.events.extend(events)
        return True

    def pending_due_before(
        self, cutoff: datetime, limit: int = 1000, after: tuple[datetime, str] | None = None
    ) -> list[PendingArticle]:
        rows = sorted(
            (a.due_at, a.id, a.status)
            for a in self.articles.values()
            if a.status in PENDING and a.due_at is not None and a.due_at < cutoff
        )
        if after is not None:
            rows = [r for r in rows if (r[0], r[1]) > after]
        return [PendingArticle(i, s.value, d) for d, i, s in rows[:limit]]

    def mark_resent(self, resent: Sequence[tuple[str, str]], events: Sequence[EventRecord]) -> int:
        self.events.extend(events)
        return len(resent)


class MemoryGuard:
    """The stage guard's contract: one holder per (stage, article); deliveries that never
    released are counted."""

    def __init__(self) -> None:
        self.locks: dict[tuple[str, str], tuple[str, float]] = {}
        self.deliveries: dict[tuple[str, str], int] = {}
        self.down = False

    def admit(self, stage: str, article_id: str, holder: str) -> Admission:
        if self.down:
            raise ConnectionError("redis unreachable")
        key = (stage, article_id)
        if key in self.locks and self.locks[key][0] != holder:
            return Admission(False, holder=self.locks[key][0], busy_for_s=self.locks[key][1])
        self.locks[key] = (holder, 330.0)
        self.deliveries[key] = self.deliveries.get(key, 0) + 1
        return Admission(True, deliveries=self.deliveries[key])

    def release(self, stage: str, article_id: str, holder: str) -> None:
        key = (stage, article_id)
        if self.locks.get(key, ("", 0.0))[0] == holder:
            del self.locks[key]
        self.deliveries.pop(key, None)

    def crash(self, stage: str, article_id: str) -> None:
        """A delivery that was admitted and then died with its worker (never released)."""
        self.admit(stage, article_id, f"dead-host:1:{len(self.deliveries)}")
        self.locks.pop((stage, article_id), None)  # its lock expired or was taken over

    def held(self, stage: str, article_ids: list[str]) -> set[str]:
        return {a for a in article_ids if (stage, a) in self.locks}


class MemoryDeferrals:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[DeferredDelivery, float]] = {}
        self.down = False

    def defer(self, delivery: DeferredDelivery, at: float) -> None:
        if self.down:
            raise ConnectionError("redis unreachable")
        self.entries[delivery.member] = (delivery, at)

    def of(self, stage: str, article_id: str) -> tuple[DeferredDelivery, float]:
        return self.entries[f"{stage}|{article_id}"]

    def scheduled(self, stage: str, article_ids: list[str]) -> set[str]:
        return {a for a in article_ids if f"{stage}|{a}" in self.entries}


@dataclass
class SentMessage:
    stage: Stage
    article_id: str
    reservation: SlotReservation | None = None
    infra_attempt: int = 0


class MemoryQueue:
    """The broker: what was published, in order; `down` makes every publish fail."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []  # one per article, batch messages included
        self.batches: list[tuple[Stage, list[str]]] = []  # the messages naming several
        self.down = False

    def send(
        self,
        stage: Stage,
        article_id: str,
        reservation: SlotReservation | None = None,
        infra_attempt: int = 0,
    ) -> None:
        if self.down:
            from workers.errors import InfrastructureError

            raise InfrastructureError("broker_unavailable", "connection refused")
        self.sent.append(SentMessage(stage, article_id, reservation, infra_attempt))

    def send_batch(self, stage: Stage, article_ids: Sequence[str]) -> None:
        if self.down:
            from workers.errors import InfrastructureError

            raise InfrastructureError("broker_unavailable", "connection refused")
        self.batches.append((stage, list(article_ids)))
        self.sent.extend(SentMessage(stage, article_id) for article_id in article_ids)


# --- stage effects, for running the real step functions without the network or a model -------


class StaticFetcher:
    """A PageFetcher answering from canned pages: url -> (HTTP status, HTML). A 4xx answer is a
    permanent failure, a 5xx a transient one, as workers.fetching.http maps them; status 0
    stands for a host whose turn has not come (deferred a minute, as the rate limiter does)."""

    def __init__(self, pages: dict[str, tuple[int, str]]) -> None:
        self.pages = pages

    def get_page(self, url: str, reservation: SlotReservation | None = None) -> FetchedPage:
        import time
        from datetime import UTC

        from workers.errors import Deferred, PermanentError, TransientError

        status, html = self.pages[url]
        if status == 0:
            raise Deferred("host_busy", time.time() + 60, url)
        if status >= 500:
            raise TransientError(f"http_{status}", url)
        if status >= 400:
            raise PermanentError(f"http_{status}", url)
        return FetchedPage(
            url=url,
            final_url=url,
            status=status,
            content_type="text/html",
            encoding="utf-8",
            html=html,
            fetched_at=datetime.now(UTC),
            body_bytes=len(html.encode("utf-8")),
        )


class FixedClassifier:
    """Labels every article `label` (a Classifier, workers.stages.classify.provider)."""

    def __init__(self, label: str = "world") -> None:
        self.label = label

    def classify(self, title: str, text: str, language: str | None = None) -> Classification:
        return Classification(self.label, 0.9, language or "en", "fixed-test-model")

    def current(self) -> FixedClassifier:  # the ClassifierProvider's side of it
        return self


@dataclass
class StageServices:
    """What workers.steps.build_steps needs: a fetcher, a dedup index, classifiers."""

    fetcher: StaticFetcher
    dedup_index: Any
    classifiers: FixedClassifier


__all__ = [
    "FixedClassifier",
    "MemoryArticle",
    "MemoryDeferrals",
    "MemoryGuard",
    "MemoryQueue",
    "MemoryStore",
    "SentMessage",
    "StageServices",
    "StaticFetcher",
]
