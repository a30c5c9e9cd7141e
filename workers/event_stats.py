"""What the stage events add up to: counters and latency histograms, folded one event at a time.

`EventTally.fold` takes one row of the `events` table (`workers.store.events.EventRow`) and
counts it; nothing here reads or writes anything. The Prometheus collector keeps one tally per
process and folds the rows committed since its last scrape; `newsflow status` folds the rows
of the last minutes into a fresh one.

Each delivery's queue wait is counted once: the runner puts it on the first event of the
delivery only (`workers.tracing.Tracer.event`), so `article_stored`, which follows
`article_classified` in the same delivery, carries none.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field

from workers.store.events import EventRow
from workers.tracing import FAILED, RECOVERED, RETRYING, STAGE_EVENTS

# Seconds. A stage takes 10 ms (dedup) to a few seconds (a slow fetch) and never more than the
# 5-minute task time limit; a queue wait is 0 on an idle pipeline and minutes in a backlog.
# Fourteen buckets from 10 ms to 5 min place a p95 within one bucket's width; 15 min and 1 h
# above them let a queue wait's p95 pass 5 min (the latency objective's alert) instead of
# stopping at the last finite bucket.
BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    3600.0,
)  # fmt: skip

# Reason codes are the part of a reason before ':' ("http_404", "worker_lost", ...); anything
# else (free text from an old row) is counted as "other", so labels stay few.
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HTTP_REASON = re.compile(r"http_(\d{3})\b")
_LABEL_VALUE = re.compile(r"[\w.-]{1,64}")


@dataclass(slots=True)
class Histogram:
    """Observations in `BUCKETS` (per bucket, not cumulative; the last is +Inf) and their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """Buckets as Prometheus exposes them: (upper bound, observations at or below it)."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(str, BUCKETS), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, float(running)))
        return out


def reason_code(reason: object) -> str:
    """The reason's code: "http_404: https://..." -> "http_404"."""
    if not isinstance(reason, str):
        return "other"
    head = reason.split(":", 1)[0].strip()
    return head if _REASON_CODE.fullmatch(head) else "other"


def label_value(value: object, empty: str = "none") -> str:
    """A short, safe label value from event detail (language codes, taxonomy labels)."""
    if value is None or value == "":
        return empty
    text = str(value)
    return text if _LABEL_VALUE.fullmatch(text) else "other"


@dataclass(slots=True)
class EventTally:
    """Cumulative counts of stage events. Keys are label tuples in the metric's label order."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, outcome)
    durations: dict[str, Histogram] = field(default_factory=dict)  # stage
    waits: dict[str, Histogram] = field(default_factory=dict)  # stage
    recovered: Counter[str] = field(default_factory=Counter)  # stage
    quarantined: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, reason)
    fetch_responses: Counter[str] = field(default_factory=Counter)  # HTTP status code
    fetch_bytes: int = 0
    classified: Counter[tuple[str, str]] = field(default_factory=Counter)  # (label, language)
    dedup: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, level)
    folded: int = 0

    def fold(self, row: EventRow) -> None:
        self.folded += 1
        self.events[(row.stage, row.outcome)] += 1
        if row.duration_ms is not None:
            self.durations.setdefault(row.stage, Histogram()).observe(row.duration_ms / 1000)
        if row.queue_wait_ms is not None:
            self.waits.setdefault(row.stage, Histogram()).observe(row.queue_wait_ms / 1000)
        detail = row.detail
        if row.event == RECOVERED:
            self.recovered[row.stage] += 1
        elif row.event == FAILED:
            self.quarantined[(row.stage, reason_code(detail.get("reason")))] += 1
        if row.stage == "fetch":
            self._fold_fetch(row)
        elif row.event == STAGE_EVENTS["classify"]:
            key = (label_value(detail.get("label")), label_value(detail.get("language")))
            self.classified[key] += 1
        elif row.event == STAGE_EVENTS["dedup"]:
            self.dedup[(row.outcome, label_value(detail.get("level")))] += 1

    def _fold_fetch(self, row: EventRow) -> None:
        detail = row.detail
        if row.event == STAGE_EVENTS["fetch"]:
            status = detail.get("http_status")
            if isinstance(status, int):
                self.fetch_responses[str(status)] += 1
            size = detail.get("bytes")
            if isinstance(size, int):
                self.fetch_bytes += size
        elif row.event in (FAILED, RETRYING):
            # A failed fetch's reason names the answer: "http_503: https://..."
            found = _HTTP_REASON.match(str(detail.get("reason") or ""))
            if found:
                self.fetch_responses[found.group(1)] += 1


__all__ = ["BUCKETS", "EventTally", "Histogram", "label_value", "reason_code"]
