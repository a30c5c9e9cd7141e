"""The SQL of the write every stage of every article makes, built once per shape and cached.

A stage moves its article on with `UPDATE articles ... WHERE id = :id AND status = :before`
and, only if that moved it, stores its page (fetch) and its trace events, all or nothing.
SQLite runs these as separate statements in one transaction (`move` and the inserts below).
PostgreSQL runs them as one statement in autocommit (`move_and_record`): the UPDATE in a WITH
clause RETURNING the id it moved, the page upsert and the events INSERT selecting FROM it, so
when the UPDATE moves nothing (another delivery finished first) they insert nothing. One round
trip instead of BEGIN, two to four statements and COMMIT (docs/performance.md). SQLite has no
data-modifying WITH, hence two forms of one write; both are built here from the same pieces.

Building a statement, computing its cache key and compiling it cost more than running these
few rows of SQL, once per stage of every article: each shape (which columns, which of them
fill-ins, how many events, a page or not) is built once, SQLAlchemy keeps the key on the
statement object and its compiled form in the engine's cache. That takes a statement it can
cache: one holding a VALUES list it would compile on every call (tests/test_store_stage_write.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Column,
    Float,
    Integer,
    Select,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from workers.store.schema import Article, Event, Page

ARTICLES = cast(Table, Article.__table__)
EVENTS = cast(Table, Event.__table__)
PAGES = cast(Table, Page.__table__)
PAGE_COLUMNS = ("final_url", "http_status", "content_type", "encoding", "html", "fetched_at")
EVENT_COLUMNS = (
    "article_id", "event", "stage", "outcome", "duration_ms", "queue_wait_ms", "attempt",
    "worker", "detail", "at",
)  # fmt: skip

# SQLite's form: the statements after the move, in its transaction.
INSERT_EVENT = insert(EVENTS)
INSERT_PAGE = insert(PAGES)
# A replayed fetch replaces the page it stored before.
DELETE_PAGE = delete(PAGES).where(PAGES.c.article_id == bindparam("_article_id"))


@dataclass(frozen=True, slots=True)
class IfUnset:
    """A column value written only where the column is still NULL."""

    value: Any


@dataclass(frozen=True, slots=True)
class Added:
    """The column's current value plus `amount` (a retry counts itself in the UPDATE)."""

    amount: int


def move(values: Mapping[str, Any], article_id: str, before: str) -> tuple[Update, dict[str, Any]]:
    """The UPDATE that sets `values` on the article while its status is `before`, and its
    parameters; it moved the article when it counts one row."""
    return _move_statement(*_shape(values)), _move_params(values, article_id, before)


def move_and_record(
    values: Mapping[str, Any],
    article_id: str,
    before: str,
    page: Mapping[str, Any] | None,
    events: Sequence[Mapping[str, Any]],
) -> tuple[Select[Any], dict[str, Any]]:
    """PostgreSQL: the move, the page (`PAGE_COLUMNS`, upserted) and the event rows
    (`EVENT_COLUMNS`) as one statement, and its parameters; it selects how many articles it
    moved (0 or 1), and writes the page and events only with a move."""
    statement = _move_and_record_statement(*_shape(values), page is not None, len(events))
    params = _move_params(values, article_id, before)
    if page is not None:
        params.update({f"page_{name}": page[name] for name in PAGE_COLUMNS})
    for n, row in enumerate(events):
        params.update({f"event{n}_{name}": row[name] for name in EVENT_COLUMNS})
    return statement, params


_Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _shape(values: Mapping[str, Any]) -> _Shape:
    """What the statement for `values` depends on: the columns it sets, those of them set
    only where NULL, and those added to."""
    return (
        tuple(sorted(values)),
        tuple(sorted(k for k, v in values.items() if isinstance(v, IfUnset))),
        tuple(sorted(k for k, v in values.items() if isinstance(v, Added))),
    )


def _move_params(values: Mapping[str, Any], article_id: str, before: str) -> dict[str, Any]:
    params = {k: _unwrapped(v) for k, v in values.items()}
    params["_article_id"] = article_id
    params["_before"] = before
    return params


def _unwrapped(value: Any) -> Any:
    if isinstance(value, IfUnset):
        return value.value
    if isinstance(value, Added):
        return value.amount
    return value


@lru_cache(maxsize=64)
def _move_statement(
    columns: tuple[str, ...], fill: tuple[str, ...] = (), added: tuple[str, ...] = ()
) -> Update:
    """UPDATE articles SET <columns> WHERE id = :_article_id AND status = :_before; the `fill`
    columns keep a value they already have (COALESCE), the `added` ones are added to."""
    t = ARTICLES

    def new_value(name: str) -> ColumnElement[Any]:
        if name in fill:
            return func.coalesce(t.c[name], bindparam(name))
        if name in added:
            return t.c[name] + bindparam(name)
        return bindparam(name)

    return (
        update(t)
        .where(t.c.id == bindparam("_article_id"), t.c.status == bindparam("_before"))
        .values({name: new_value(name) for name in columns})
    )


@lru_cache(maxsize=64)
def _move_and_record_statement(
    columns: tuple[str, ...], fill: tuple[str, ...], added: tuple[str, ...], page: bool, events: int
) -> Select[Any]:
    """WITH moved AS (UPDATE ... RETURNING id), page AS (INSERT INTO pages SELECT ... FROM
    moved ON CONFLICT (article_id) DO UPDATE ...), recorded AS (INSERT INTO events SELECT ...
    FROM (SELECT 0 AS position, ... FROM moved UNION ALL ...) ORDER BY position)
    SELECT count(*) FROM moved.

    PostgreSQL runs every part of a WITH exactly once, to completion, in the statement's one
    transaction. The parts share one snapshot and none sees another's rows, so the page is an
    upsert (a DELETE and an INSERT of the same key in one statement would collide). Event ids
    come from a sequence as rows are inserted, after the ORDER BY: the events keep the order
    they were given in (one trace reads in id order, the event relay in (txid, id) order), and
    their txid, a column default, is this statement's own transaction, as the relay expects
    (workers/store/outbox.py)."""
    moved = _move_statement(columns, fill, added).returning(ARTICLES.c.id).cte("moved")
    parts = []
    if page:
        upsert = postgresql.insert(PAGES).from_select(
            ["article_id", *PAGE_COLUMNS],
            select(moved.c.id, *(_bound(f"page_{name}", PAGES.c[name]) for name in PAGE_COLUMNS)),
        )
        parts.append(
            upsert.on_conflict_do_update(
                index_elements=[PAGES.c.article_id],
                set_={name: upsert.excluded[name] for name in PAGE_COLUMNS},
            ).cte("page")
        )
    if events:
        # One SELECT ... FROM moved per event, UNION ALL: a VALUES list would read better, but
        # SQLAlchemy cannot cache a statement holding one (it would compile it every time).
        given = union_all(
            *(
                select(
                    literal_column(str(n), Integer).label("position"),
                    *(
                        _bound(f"event{n}_{name}", EVENTS.c[name]).label(name)
                        for name in EVENT_COLUMNS
                    ),
                ).select_from(moved)
                for n in range(events)
            )
        ).subquery("given")
        rows = select(*(given.c[name] for name in EVENT_COLUMNS)).order_by(given.c.position)
        parts.append(insert(EVENTS).from_select(list(EVENT_COLUMNS), rows).cte("recorded"))
    return select(func.count()).select_from(moved).add_cte(*parts)


def _bound(name: str, target: Column[Any]) -> ColumnElement[Any]:
    """A parameter typed as the column it goes to. SQLAlchemy casts most parameters itself on
    psycopg (`%(name)s::VARCHAR`) but not floats, and in a UNION a parameter without a type
    that is NULL in every arm would be text, which a float column does not take."""
    bound = bindparam(name, type_=target.type)
    return sql_cast(bound, target.type) if isinstance(target.type, Float) else bound
