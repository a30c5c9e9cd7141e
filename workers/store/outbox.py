"""EventOutbox: the terminal `events` rows as the outbox of the article event stream, and the
relay's cursor in `event_relay`.

The store writes an article's end (stored, duplicate, skipped, failed) as an `events` row in the
same transaction as its status, so reading those rows in order, and remembering in the database
how far they were sent, loses no event whatever dies when. Order matters on PostgreSQL: event
ids come from a sequence, handed out at insert and not at commit, so a row with a lower id can
commit after a higher one was read. Rows are read in (txid, id) order and only from transactions
older than the oldest one still running (`pg_snapshot_xmin`): everything below that line has
committed or never will, so the cursor never passes a row that appears later. On SQLite one
writer at a time holds the database until commit, so ids are in commit order already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, literal_column, or_, select, tuple_, update
from sqlalchemy.sql.elements import ColumnElement

from workers.events.envelope import (
    DEDUPLICATED_EVENT,
    DUPLICATE_OUTCOME,
    ENDING_EVENTS,
    ArticleFacts,
    TerminalEvent,
    ending_status,
)
from workers.store.schema import Article, Event, EventRelay

RELAY_NAME = "stream"
# Below this transaction id every transaction has ended (committed or rolled back).
_SETTLED_XID: ColumnElement[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where the relay is in the events table: (txid, id) on PostgreSQL, (0, id) on SQLite."""

    txid: int
    event_id: int


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    events: list[TerminalEvent]  # the terminal rows read, in order
    last: Position  # the last row looked at: where the cursor goes once `events` are sent
    scanned: int  # rows looked at (== the limit: more may be waiting)


def terminal_predicate() -> ColumnElement[bool]:
    """SQL: the event rows that end an article (workers.events.envelope.ending_status)."""
    return or_(
        Event.event.in_(list(ENDING_EVENTS)),
        and_(Event.event == DEDUPLICATED_EVENT, Event.outcome == DUPLICATE_OUTCOME),
    )


class EventOutbox:
    def __init__(self, engine: Engine, name: str = RELAY_NAME) -> None:
        self.engine = engine
        self.name = name
        self._by_txid = engine.dialect.name == "postgresql"

    # --- the cursor -----------------------------------------------------------------------------
    def position(self) -> Position:
        """How far the stream has been sent (a store never migrated past 0003 has no row: 0)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(EventRelay.last_txid, EventRelay.last_event_id).where(
                    EventRelay.name == self.name
                )
            ).first()
        return Position(int(row[0]), int(row[1])) if row else Position(0, 0)

    def advance(self, old: Position, new: Position) -> bool:
        """Move the cursor from `old` to `new`; False (nothing written) when it is no longer at
        `old`: another relay moved it, and the caller's view is stale."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(EventRelay)
                .where(
                    EventRelay.name == self.name,
                    EventRelay.last_txid == old.txid,
                    EventRelay.last_event_id == old.event_id,
                )
                .values(
                    last_txid=new.txid, last_event_id=new.event_id, updated_at=datetime.now(UTC)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0) == 1

    # --- reading --------------------------------------------------------------------------------
    def read_after(self, after: Position, limit: int = 500) -> OutboxBatch:
        """Up to `limit` settled event rows after `after`, in order: the terminal ones among
        them, and the position of the last row looked at (where the cursor may move once those
        are sent). Non-terminal rows are stepped over, so the scan never starts far back.

        Two reads: the window's positions alone, then the terminal rows inside it with their
        article. An article leaves ~5 rows and one of them is terminal: joining every row to
        its article and decoding its JSON detail cost about twice as much (0.05 -> 0.03 ms of
        CPU per article on SQLite, 0.08 -> 0.04 on PostgreSQL; `benchmarks/store_path.py`
        prints the relay's read)."""
        window = select(Event.txid, Event.id).limit(limit)
        if self._by_txid:
            window = window.where(
                tuple_(Event.txid, Event.id) > tuple_(after.txid, after.event_id),
                Event.txid < _SETTLED_XID,
            ).order_by(Event.txid, Event.id)
        else:
            window = window.where(Event.id > after.event_id).order_by(Event.id)
        with self.engine.connect() as conn:
            scanned = conn.execute(window).all()
            if not scanned:
                return OutboxBatch([], after, 0)
            tail = scanned[-1]
            last = Position(int(tail.txid or 0) if self._by_txid else 0, int(tail.id))
            # Every row up to `last` in this order has settled: a lower txid than a settled
            # one is below the settled line too, and rows of last's own transaction committed
            # with it. So the range holds exactly the window's rows.
            terminal = _joined().where(terminal_predicate())
            if self._by_txid:
                after_key = tuple_(after.txid, after.event_id)
                last_key = tuple_(last.txid, last.event_id)
                key = tuple_(Event.txid, Event.id)
                terminal = terminal.where(key > after_key, key <= last_key)
                terminal = terminal.order_by(Event.txid, Event.id)
            else:
                terminal = terminal.where(Event.id > after.event_id, Event.id <= last.event_id)
                terminal = terminal.order_by(Event.id)
            rows = conn.execute(terminal).all()
        events = [event for event in map(_terminal, rows) if event is not None]
        return OutboxBatch(events, last, len(scanned))

    def undelivered(self, after: Position | None = None) -> int:
        """Terminal event rows not yet sent (the relay's lag), settled or not."""
        after = after if after is not None else self.position()
        query = select(func.count()).select_from(Event).where(terminal_predicate())
        if self._by_txid:
            query = query.where(tuple_(Event.txid, Event.id) > tuple_(after.txid, after.event_id))
        else:
            query = query.where(Event.id > after.event_id)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def terminal_since(self, since: datetime, batch: int = 500) -> Iterator[list[TerminalEvent]]:
        """Every terminal event at or after `since`, oldest id first, in batches (a replay; it
        reads the whole events table, an operator's command, not the relay's path)."""
        after_id = 0
        while True:
            query = (
                _joined()
                .where(terminal_predicate(), Event.at >= since, Event.id > after_id)
                .order_by(Event.id)
                .limit(batch)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            events = [e for e in (_terminal(r) for r in rows) if e is not None]
            if events:
                yield events
            if len(rows) < batch:
                return
            after_id = int(rows[-1].id)


def _joined() -> Any:
    return select(
        Event.id,
        Event.txid,
        Event.article_id,
        Event.event,
        Event.outcome,
        Event.at,
        Event.detail,
        Article.url,
        Article.canonical_url,
        Article.title,
        Article.language,
        Article.published_at,
        Article.label,
        Article.confidence,
        Article.duplicate_of,
        Article.cluster_id,
    ).outerjoin(Article, Article.id == Event.article_id)


def _terminal(row: Any) -> TerminalEvent | None:
    if ending_status(row.event, row.outcome) is None:
        return None
    return TerminalEvent(
        event_row_id=int(row.id),
        article_id=row.article_id,
        event=row.event,
        outcome=row.outcome,
        at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
        detail=dict(row.detail or {}),
        article=None
        if row.url is None
        else ArticleFacts(
            url=row.url,
            canonical_url=row.canonical_url,
            title=row.title,
            language=row.language,
            published_at=row.published_at,
            label=row.label,
            confidence=row.confidence,
            duplicate_of=row.duplicate_of,
            cluster_id=row.cluster_id,
        ),
    )
