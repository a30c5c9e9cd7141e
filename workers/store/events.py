"""EventLog: the reads that turn the `events` table into metrics, without a write per event.

Every stage already writes its events in the same transaction as its result, so the table is
the one shared, durable record of what every worker on every machine did. Two readers use it:

- the Prometheus collector (`workers.metrics`) reads the rows past the last id it saw
  (`after`, an indexed range read on the primary key) at scrape time and keeps cumulative
  counters in its own memory;
- `newsflow status` reads the newest rows back to a point in time (`recent`) for rates and
  percentiles over the last minutes.

Ids are handed out when a row is inserted, but rows become visible when their transaction
commits, and on PostgreSQL concurrent transactions commit in any order: a reader may see id 101
before id 100. `EventCursor` remembers such holes for a while and looks them up again, so a
row that commits late is still counted once (a hole that never fills, from a rolled-back
transaction, is forgotten after `GAP_TTL_S`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from workers.store.repository import _aware, utcnow
from workers.store.schema import Event

# A transaction that inserted an event commits within milliseconds (a stage's write is its last
# statement before COMMIT); two minutes covers a database stalled under load with a wide margin.
GAP_TTL_S = 120.0
# Holes remembered at most (a burst of rolled-back transactions must not grow this unbounded).
MAX_GAPS = 10_000


@dataclass(frozen=True, slots=True)
class EventRow:
    """What metrics need of one event row."""

    id: int
    event: str
    stage: str
    outcome: str
    duration_ms: float | None
    queue_wait_ms: float | None
    detail: dict[str, Any]
    at: datetime


_COLUMNS = (
    Event.id,
    Event.event,
    Event.stage,
    Event.outcome,
    Event.duration_ms,
    Event.queue_wait_ms,
    Event.detail,
    Event.at,
)


def _row(values: Any) -> EventRow:
    id_, event, stage, outcome, duration, wait, detail, at = values
    return EventRow(
        id=int(id_),
        event=event,
        stage=stage,
        outcome=outcome,
        duration_ms=duration,
        queue_wait_ms=wait,
        detail=detail if isinstance(detail, dict) else {},
        at=_aware(at) or utcnow(),
    )


class EventLog:
    """Read-only access to the events table for metrics."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def max_id(self) -> int:
        """The newest event's id (0 for an empty table): one primary-key index lookup."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.max(Event.id))).scalar() or 0)

    def after(self, last_id: int, limit: int) -> list[EventRow]:
        """Up to `limit` events with an id above `last_id`, in id order."""
        query = select(*_COLUMNS).where(Event.id > last_id).order_by(Event.id).limit(limit)
        with self._engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def by_ids(self, ids: Iterable[int]) -> list[EventRow]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows: list[EventRow] = []
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(*_COLUMNS).where(Event.id.in_(chunk)).order_by(Event.id)
                rows.extend(_row(r) for r in conn.execute(query))
        return rows

    def recent(self, since: datetime, limit: int = 100_000, page: int = 5000) -> list[EventRow]:
        """The newest events recorded at or after `since`, newest first, at most `limit`:
        pages backwards along the primary key until a page reaches past `since`."""
        found: list[EventRow] = []
        before: int | None = None
        with self._engine.connect() as conn:
            while len(found) < limit:
                query = select(*_COLUMNS).order_by(Event.id.desc()).limit(page)
                if before is not None:
                    query = query.where(Event.id < before)
                rows = [_row(r) for r in conn.execute(query)]
                found.extend(r for r in rows if r.at >= since)
                if len(rows) < page or rows[-1].at < since:
                    break
                before = rows[-1].id
        return found[:limit]


@dataclass(slots=True)
class EventCursor:
    """Where a reader of the events table is: the highest id it has read, and the holes below
    it that may still fill (ids handed out to transactions that had not committed yet)."""

    last_id: int = 0
    gaps: dict[int, float] = field(default_factory=dict)  # id -> when it was first missed

    def advance(
        self,
        log: EventLog,
        fold: Callable[[EventRow], None],
        batch: int = 5000,
        max_rows: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> int:
        """Fold every event not read yet (late commits into old holes first, then new rows
        in id order, at most `max_rows`); returns how many were folded."""
        now = clock()
        folded = 0
        if self.gaps:
            for row in log.by_ids(self.gaps):
                del self.gaps[row.id]
                fold(row)
                folded += 1
            for gap, seen in list(self.gaps.items()):
                if now - seen > GAP_TTL_S:
                    del self.gaps[gap]
        while folded < max_rows:
            rows = log.after(self.last_id, min(batch, max_rows - folded))
            for row in rows:
                # Holes below this row (a jump of the id sequence counts only its top part).
                for missing in range(max(self.last_id + 1, row.id - MAX_GAPS), row.id):
                    self.gaps[missing] = now
                self.last_id = row.id
                fold(row)
            folded += len(rows)
            if len(rows) < batch:
                break
        if len(self.gaps) > MAX_GAPS:
            for gap in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[gap]
        return folded


__all__ = ["GAP_TTL_S", "EventCursor", "EventLog", "EventRow"]
