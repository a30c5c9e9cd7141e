"""The store's share of a stage: CPU per article of the reads and writes every stage makes.

Creates N queued articles in a scratch SQLite database (or --database-url), then for each
stage in order loads every article's input and saves its result with one trace event (two for
classify, as the runner writes `article_stored` beside it), and prints per article the CPU
milliseconds in this process (the database's own work included for SQLite, which runs in
process), on PostgreSQL also those of the server process serving it (the server must run on
this machine), and the wall-clock milliseconds. On PostgreSQL it then takes a few more
articles through the stages with libpq's protocol trace on, and prints the round trips (one per
ReadyForQuery the server sends) and transactions (round trips that leave the connection idle:
an autocommit statement, or a COMMIT or ROLLBACK) per article: what the server and the network
see, which client CPU does not show. Last, the event relay's read of what the stages wrote
(`EventOutbox.read_after` in windows of its batch size, from the start): its CPU per article.

    .venv/bin/python benchmarks/store_path.py [--articles 400] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proc import cpu_seconds

from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.pipeline import STAGES, Stage, Status, status_after
from workers.store import ArticleStore, open_store
from workers.store.outbox import EventOutbox, Position
from workers.store.repository import EventRecord, StageOutput, new_article_id

HTML = "<html><body>" + "<p>word word word word word</p>" * 1000 + "</body></html>"  # ~30 KB
TEXT = " ".join(["word"] * 800)
# Articles taken through the stages before the traced ones (psycopg prepares a statement on its
# fifth use: a one-off round trip not to be counted), and the traced ones.
WARM = 10
TRACED = 20


def outputs(now: datetime) -> dict[Stage, Callable[[str], StageOutput]]:
    return {
        Stage.FETCH: lambda a: FetchedPage(
            url=f"https://example.org/{a}",
            final_url=f"https://example.org/{a}",
            status=200,
            content_type="text/html",
            encoding="utf-8",
            html=HTML,
            fetched_at=now,
        ),
        Stage.CLEAN: lambda a: CleanedArticle(
            title="A title",
            text=TEXT,
            lead="A lead.",
            authors=("A. Writer",),
            published_at="2026-01-01T00:00:00Z",
            language="en",
            tags=("world",),
        ),
        Stage.DEDUP: lambda a: DedupVerdict(is_duplicate=False, cluster_id=a),
        Stage.CLASSIFY: lambda a: Classification(
            label="world",
            confidence=0.9,
            language="en",
            model_version="bench",
            scores={"world": 0.9},
        ),
    }


def run_stage(store: ArticleStore, stage: Stage, ids: Sequence[str], now: datetime) -> None:
    """What the runner asks of the store for `stage` of each article: its input, then its
    result, status and events in one write."""
    make = outputs(now)[stage]
    status = status_after(stage)
    for a in ids:
        store.load_input(a, stage)
        events = [event(a, f"article_{stage.value}", stage, now)]
        if status is Status.STORED:
            events.append(event(a, "article_stored", stage, now))
        if not store.complete_stage(a, stage, make(a), status, events):
            raise SystemExit(f"{stage.value}: article {a} was not waiting for it")


def event(article_id: str, name: str, stage: Stage, now: datetime) -> EventRecord:
    return EventRecord(
        article_id=article_id, event=name, stage=stage.value, outcome="ok", at=now,
        duration_ms=1.0, queue_wait_ms=2.0, worker="bench", detail={"bench": True},
    )  # fmt: skip


def new_articles(store: ArticleStore, n: int) -> list[str]:
    ids = [new_article_id() for _ in range(n)]
    store.create_articles([(a, f"https://example.org/{a}") for a in ids], "bench")
    return ids


def traced(store: ArticleStore, now: datetime) -> dict[str, Counter[str]]:
    """Per stage, the round trips and transactions of TRACED articles, from libpq's trace of
    the one pooled connection; a marker statement before each stage splits the trace."""
    run_stage_all(store, new_articles(store, WARM), now)
    ids = new_articles(store, TRACED)
    marker = store.engine.execution_options(isolation_level="AUTOCOMMIT")
    with tempfile.NamedTemporaryFile("w+") as trace:
        with marker.connect() as conn:
            pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        if store.engine.pool.checkedin() != 1:  # type: ignore[attr-defined]
            raise SystemExit("the trace needs the store to use one connection")
        pgconn.trace(trace.fileno())
        for stage in STAGES:
            with marker.connect() as conn:
                conn.exec_driver_sql(f"SELECT 'stage {stage.value}'")
            run_stage(store, stage, ids, now)
        pgconn.untrace()  # flushes the trace
        trace.seek(0)
        lines = trace.read().splitlines()
    counts: dict[str, Counter[str]] = {}
    current: Counter[str] = Counter()
    for line in lines:
        if "\tQuery\t" in line and "'stage " in line:
            stage_name = line.split("'stage ", 1)[1].split("'", 1)[0]
            # The marker's own round trip (an autocommit statement) is not the stage's.
            current = counts[stage_name] = Counter({"round trips": -1, "transactions": -1})
        elif "\tReadyForQuery\t" in line:
            current["round trips"] += 1
            if line.rstrip().endswith("I"):  # idle after it: a transaction ended
                current["transactions"] += 1
    return counts


def run_stage_all(store: ArticleStore, ids: Sequence[str], now: datetime) -> None:
    for stage in STAGES:
        run_stage(store, stage, ids, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'store.db'}"
        store = open_store(url)
        ids = new_articles(store, args.articles)
        now = datetime.now(UTC)
        server = _server_process(store)
        cpu: dict[str, float] = {}
        server_cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        for stage in STAGES:
            start, start_wall = time.process_time(), time.perf_counter()
            start_server = _cpu_ms(server)
            run_stage(store, stage, ids, now)
            cpu[stage.value] = (time.process_time() - start) * 1000 / len(ids)
            wall[stage.value] = (time.perf_counter() - start_wall) * 1000 / len(ids)
            server_cpu[stage.value] = (_cpu_ms(server) - start_server) / len(ids)
        relay_ms = relay_read_ms(store, len(ids))
        trips = traced(store, now) if server else None
        store.engine.dispose()
    name = url.split(":", 1)[0]
    print(f"{name}: {_line(cpu)} ms CPU per article")
    if server:
        print(f"{name}: {_line(server_cpu)} ms CPU of the server process per article")
    print(f"{name}: {_line(wall)} ms wall-clock per article")
    print(f"{name}: {relay_ms:.3f} ms CPU per article for the event relay's read")
    if trips:
        for what in ("round trips", "transactions"):
            per_stage = {s: trips[s][what] / TRACED for s in trips}
            print(f"{name}: {_line(per_stage, '.1f')} {what} per article")


def relay_read_ms(store: ArticleStore, articles: int, batch: int = 500) -> float:
    """CPU ms per article of the event relay reading every event row written so far."""
    outbox = EventOutbox(store.engine)
    start, position, sent = time.process_time(), Position(0, 0), 0
    while (window := outbox.read_after(position, batch)).scanned:
        position, sent = window.last, sent + len(window.events)
    if sent != articles:
        raise SystemExit(f"the relay read {sent} terminal events for {articles} articles")
    return (time.process_time() - start) * 1000 / articles


def _server_process(store: ArticleStore) -> int | None:
    """PostgreSQL on this machine: the pid of the server process behind the pool's one
    connection (the store's calls, one at a time, all use it); None for SQLite."""
    if store.engine.dialect.name != "postgresql":
        return None
    with store.engine.connect() as conn:
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    if store.engine.pool.checkedin() != 1:  # type: ignore[attr-defined]
        raise SystemExit("the server's CPU needs the store to use one connection")
    return pid


def _cpu_ms(pid: int | None) -> float:
    return cpu_seconds(pid) * 1000 if pid is not None else 0.0


def _line(per_stage: dict[str, Any], fmt: str = ".2f") -> str:
    detail = ", ".join(f"{stage} {value:{fmt}}" for stage, value in per_stage.items())
    return f"{sum(per_stage.values()):{fmt}} ({detail})"


if __name__ == "__main__":
    main()
