"""docs/events.md's consumer-group example, run as written against the real Redis, on entries
the real relay wrote: a consumer dies with entries pending, another takes them over with
XAUTOCLAIM, a resent batch is handled once, and everything ends acknowledged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import article_support as articles
from workers.events.envelope import build_envelope
from workers.events.relay import StreamWriter, relay_batch
from workers.store import ArticleStore, open_store
from workers.store.outbox import EventOutbox

DOC = Path(__file__).resolve().parents[1] / "docs" / "events.md"
GROUP = "search-indexer"


def example() -> dict[str, Any]:
    """The example's code, executed as a module (not as __main__: its loop does not run)."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- consumer-example:start -->", 1)[1].split(
        "<!-- consumer-example:end -->", 1
    )[0]
    code = re.search(r"```python\n(.*?)```", block, re.S)
    assert code, "docs/events.md lost its consumer example"
    namespace: dict[str, Any] = {"__name__": "docs_events_example"}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ArticleStore]:
    real = open_store(sqlite_url)
    yield real
    real.engine.dispose()


def test_the_example_reads_the_stream_newsflow_writes_by_default() -> None:
    assert example()["STREAM"] == "newsflow:events"


def test_a_dead_consumer_s_entries_are_taken_over_and_each_event_is_handled_once(
    store: ArticleStore, redis_client: redis.Redis, key_prefix: str
) -> None:
    ex = example()
    stream = f"{key_prefix}:events"
    writer = StreamWriter(redis_client, stream, maxlen=1000, max_age_s=0)
    for n in range(5):
        articles.stored(store, f"a{n}")
    outbox = EventOutbox(store.engine)
    # A relay that died before moving its cursor: the first batch goes out twice.
    writer.publish([build_envelope(e, "s") for e in outbox.read_after(outbox.position()).events])
    relay_batch(outbox, writer, "s")
    assert redis_client.xlen(stream) == 10

    ex["ensure_group"](redis_client, stream, GROUP)
    ex["ensure_group"](redis_client, stream, GROUP)  # a second start finds the group there

    def dies(event: dict[str, Any]) -> None:
        raise SystemExit("consumer killed while handling")

    with pytest.raises(SystemExit):
        ex["consume_once"](redis_client, "dead", dies, set(), stream, GROUP)
    assert redis_client.xpending(stream, GROUP)["pending"] == 10  # all read, none acked

    handled: list[str] = []
    seen: set[str] = set()

    def handle(event: dict[str, Any]) -> None:
        handled.append(event["id"])

    def consume() -> int:
        n: int = ex["consume_once"](redis_client, "alive", handle, seen, stream, GROUP, idle_ms=0)
        return n

    while consume():
        pass
    assert len(handled) == 5
    assert len(set(handled)) == 5
    assert redis_client.xpending(stream, GROUP)["pending"] == 0


def test_a_consumer_restarted_under_its_name_finishes_what_it_had_taken(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    ex = example()
    stream = f"{key_prefix}:events"
    redis_client.xadd(stream, {"event": '{"id": "a.1"}', "type": "t", "id": "a.1"})
    ex["ensure_group"](redis_client, stream, GROUP)
    redis_client.xreadgroup(GROUP, "indexer-1", {stream: ">"})  # taken, then the process died
    handled: list[str] = []
    ex["consume_once"](
        redis_client, "indexer-1", lambda e: handled.append(e["id"]), set(), stream, GROUP
    )
    assert handled == ["a.1"]
    assert redis_client.xpending(stream, GROUP)["pending"] == 0
