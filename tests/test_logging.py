"""Log lines: every per-stage event follows the schema docs/logging.md documents (keys and
types, read from the doc's tables), and stray output of a service process becomes JSON.

The stages run for real through the runner and the store (tests/stage_harness.py), logged by
the real logging configuration in JSON into a buffer."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.config
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog

from tests.fakes import MemoryDeferrals, MemoryGuard, MemoryQueue
from tests.stage_harness import NOT_AN_ARTICLE, STORIES, Pipeline, page_url, sample_pages
from workers import logconfig
from workers.pipeline import Stage, Status
from workers.reconciler import reconcile
from workers.services import Services
from workers.settings import Settings
from workers.store.schema import Article

DOC = (Path(__file__).resolve().parents[1] / "docs" / "logging.md").read_text(encoding="utf-8")
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "object": (dict,),
}


def accepts(spec: str, value: object) -> bool:
    """Whether `value` is of the documented type `spec` ("string", "number or null", ...)."""
    kinds = [k.strip() for k in spec.split(" or ")]
    if value is None:
        return "null" in kinds
    if isinstance(value, bool):
        return False
    return any(isinstance(value, TYPES[k]) for k in kinds if k != "null")


def doc_table(heading_text: str) -> list[list[str]]:
    """The rows (cells) of the first table after the paragraph containing `heading_text`."""
    after = DOC.split(heading_text, 1)[1]
    rows = []
    for line in after.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-", " "}:
            continue
        rows.append(cells)
    return rows[1:]  # without the header


def documented_fields() -> dict[str, str]:
    rows = doc_table("Fields of every per-stage event")
    return {row[0].strip("`"): row[1] for row in rows}


def documented_events() -> dict[str, dict[str, Any]]:
    events = {}
    for name, outcomes, level, detail in doc_table("The events, their outcomes and their"):
        keys: dict[str, tuple[str, bool]] = {}
        for item in re.findall(r"`(\w+)`(\??): ([a-z ]+)", detail):
            key, optional, spec = item
            keys[key] = (spec.strip(), not optional)
        events[name.strip("`")] = {
            "outcomes": set(re.findall(r"`(\w+)`", outcomes)),
            "level": level,
            "detail": keys,
        }
    return events


@contextlib.contextmanager
def json_logging(level: str) -> Iterator[io.StringIO]:
    """The process's real logging set-up, in JSON, into a buffer; undone afterwards."""
    buffer = io.StringIO()
    logconfig.configure_logging("json", level, stream=buffer)
    try:
        yield buffer
    finally:
        logconfig._configured = None
        structlog.reset_defaults()
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with json_logging("DEBUG") as buffer:
        yield buffer


@pytest.fixture
def svc(
    sqlite_url: str,
    redis_url: str,
    key_prefix: str,
    redis_client: redis.Redis,
    make_services: Callable[[Settings], Services],
) -> Services:
    return make_services(
        Settings().with_overrides(
            redis_url=redis_url, database_url=sqlite_url, key_prefix=key_prefix
        )
    )


def every_event_kind(svc: Services, client: redis.Redis) -> None:
    """Drive articles to every per-stage event: stored stories, a duplicate, a skipped page, a
    quarantine, a retry, a deferral and a recovery by the reconciler."""
    pages = sample_pages()
    copy_url = "https://mirror.example/bridge-copy"
    pages[copy_url] = pages[page_url(STORIES[0])]
    pages["https://busy.example/a"] = (0, "")
    pipeline = Pipeline(svc.store, client, svc.settings.key_prefix, pages)
    names = (*STORIES, NOT_AN_ARTICLE, "gone.html", "flaky.html")
    pipeline.ingest([*(page_url(n) for n in names), copy_url, "https://busy.example/a"])
    pipeline.drain({Stage.FETCH: 0.25, Stage.CLEAN: 1.5})
    lost = svc.store.create_article("https://news.example/lost")
    with svc.store._sessions.begin() as s:
        s.get(Article, lost).due_at = datetime.now(UTC) - timedelta(hours=1)  # type: ignore[union-attr]

    class NoQueue:
        def oldest_enqueued_at(self, queue: str) -> float | None:
            return None

    reconcile(
        svc.store, NoQueue(), MemoryGuard(), MemoryDeferrals(), MemoryQueue(), 120,
        worker="scheduler:test",
    )  # fmt: skip
    assert svc.store.status_of(lost) == Status.QUEUED.value


def test_every_stage_event_follows_the_documented_schema(
    svc: Services, redis_client: redis.Redis, json_log: io.StringIO
) -> None:
    fields = documented_fields()
    events = documented_events()
    assert "detail" in fields
    assert set(events) == {
        "article_fetched", "article_cleaned", "article_deduplicated", "article_classified",
        "article_stored", "article_skipped", "article_deferred", "article_retrying",
        "article_failed", "article_recovered",
    }  # fmt: skip
    every_event_kind(svc, redis_client)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    stage_lines = [line for line in lines if line["event"] in events]
    assert {line["event"] for line in stage_lines} == set(events), "an event was never emitted"
    for line in stage_lines:
        documented = events[line["event"]]
        where = f"{line['event']}: {line}"
        assert set(fields) <= line.keys(), where
        # Besides the documented fields, only the task context may appear (docs: Every line).
        assert line.keys() - set(fields) <= {"task", "task_id"}, where
        for key, spec in fields.items():
            assert accepts(spec, line[key]), (key, spec, where)
        assert line["logger"] == "newsflow.trace", where
        assert line["outcome"] in documented["outcomes"], where
        assert line["level"] == documented["level"], where
        detail = line["detail"]
        assert detail.keys() <= documented["detail"].keys(), where
        for key, (spec, required) in documented["detail"].items():
            if required:
                assert key in detail, (key, where)
            if key in detail:
                assert accepts(spec, detail[key]), (key, spec, where)


def test_a_deliverys_queue_wait_is_on_its_first_event_only(
    svc: Services, redis_client: redis.Redis, json_log: io.StringIO
) -> None:
    pipeline = Pipeline(svc.store, redis_client, svc.settings.key_prefix)
    pipeline.ingest([page_url(STORIES[1])])
    pipeline.drain({Stage.CLASSIFY: 0.75})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    classify = [(x["event"], x["queue_wait_ms"]) for x in lines if x.get("stage") == "classify"]
    assert ("article_classified", 750.0) in classify
    assert ("article_stored", None) in classify


def test_stray_output_of_a_service_process_becomes_json_lines(tmp_path: Path) -> None:
    """In a child process set up as a service: a print, a warning, a partial line and an
    uncaught exception each come out as one JSON line."""
    script = tmp_path / "service.py"
    script.write_text(
        "import sys, warnings\n"
        "from workers.logconfig import capture_stray_output, configure_logging\n"
        "configure_logging('json', 'INFO')\n"
        "capture_stray_output()\n"
        "print('plain text on stdout')\n"
        'print(\'{"already": "json"}\')\n'
        "sys.stderr.write('a partial')\n"
        "sys.stderr.write(' line\\n')\n"
        "sys.__stdout__.write('to the original stdout\\n')\n"
        "warnings.warn('careful', UserWarning, stacklevel=1)\n"
        "raise RuntimeError('boom')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert done.returncode == 1
    out = [json.loads(line) for line in done.stdout.splitlines()]
    err = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r.get("event") for r in out] == ["plain text on stdout", None, "to the original stdout"]
    assert out[1] == {"already": "json"}
    events = [r["event"] for r in err]
    assert "a partial line" in events
    assert any("careful" in e for e in events)
    crash = [r for r in err if r["event"] == "uncaught_exception"]
    assert len(crash) == 1
    assert "RuntimeError: boom" in crash[0]["exception"]


def test_our_events_and_stdlib_lines_share_one_json_shape(json_log: io.StringIO) -> None:
    """Our events are written straight to the handler's stream (no stdlib LogRecord: a third
    of the CPU per line); a library's stdlib line still goes through the handler. Both carry
    the same keys, and context bound with structlog.contextvars."""
    records: list[logging.LogRecord] = []

    class Seen(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            records.append(record)
            return True

    logging.getLogger().handlers[0].addFilter(Seen())
    structlog.contextvars.bind_contextvars(article_id="a1")
    try:
        structlog.get_logger("newsflow.test").info("ours", n=1)
        logging.getLogger("celery.worker").warning("theirs %s", "x")
    finally:
        structlog.contextvars.clear_contextvars()
    ours, theirs = (json.loads(line) for line in json_log.getvalue().splitlines())
    assert [r.name for r in records] == ["celery.worker"]
    assert ours == {**ours, "event": "ours", "n": 1, "level": "info", "logger": "newsflow.test"}
    assert theirs == {**theirs, "event": "theirs x", "level": "warning", "logger": "celery.worker"}
    assert ours["article_id"] == theirs["article_id"] == "a1"
    assert set(ours) - {"n"} == set(theirs)


def test_an_exception_is_rendered_into_the_json_line(json_log: io.StringIO) -> None:
    try:
        raise ValueError("bad page")
    except ValueError:
        structlog.get_logger("newsflow.test").exception("stage_crashed")
    line = json.loads(json_log.getvalue())
    assert line["level"] == "error"
    assert "ValueError: bad page" in line["exception"]


def test_lines_below_the_configured_level_are_dropped() -> None:
    with json_logging("WARNING") as buffer:
        structlog.get_logger("newsflow.test").info("quiet")
        structlog.get_logger("newsflow.test").warning("loud")
    assert [json.loads(line)["event"] for line in buffer.getvalue().splitlines()] == ["loud"]


def test_lines_written_by_many_threads_at_once_stay_whole(json_log: io.StringIO) -> None:
    """Ours and stdlib's lines take the handler's one lock: no line is cut into another."""

    def write(n: int) -> None:
        for i in range(200):
            structlog.get_logger("newsflow.test").info("ours", thread=n, i=i, pad="x" * 300)
            logging.getLogger("kombu").warning("theirs %d %d %s", n, i, "y" * 300)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert len(lines) == 6 * 200 * 2
