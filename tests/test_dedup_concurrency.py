"""Atomicity: OS processes inserting copies of the same stories at once let no more copies
through than one process inserting them in order (real Redis, real processes)."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
import redis

from tests.test_dedup_corpus import STORIES, reordered, resent, truncated, wrapped
from workers.adapters.dedup_index import RedisDedupIndex
from workers.stages.dedup import fingerprint_text

PROCESSES = 6


def _copies() -> list[tuple[str, str]]:
    """Every process gets its own id for each copy of each story: 5 copies x 3 stories."""
    makers = {
        "orig": str,
        "wrapped": wrapped,
        "trunc": truncated,
        "reorder": reordered,
        "wire": resent,
    }
    return [
        (f"{story}:{kind}", make(text))
        for story, text in STORIES.items()
        for kind, make in makers.items()
    ]


def _insert_all(
    url: str, prefix: str, worker: int, barrier: Barrier, out: Queue[list[bool]]
) -> None:
    index = RedisDedupIndex(redis.Redis.from_url(url), prefix, 600)
    fps = [(f"{doc}#p{worker}", fingerprint_text(text)) for doc, text in _copies()]
    barrier.wait()
    out.put([index.check_and_insert(doc, doc, fp).is_duplicate for doc, fp in fps])


@pytest.mark.integration  # several processes insert into one index at once
def test_concurrent_processes_let_no_more_copies_through_than_one_process(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    sequential = RedisDedupIndex(redis_client, f"{key_prefix}:seq", 600)
    sequential_new = sum(
        not sequential.check_and_insert(
            f"{doc}#p{w}", f"{doc}#p{w}", fingerprint_text(text)
        ).is_duplicate
        for w in range(PROCESSES)
        for doc, text in _copies()
    )
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_insert_all, args=(redis_url, f"{key_prefix}:par", w, barrier, out))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    concurrent_new = sum(not dup for result in results for dup in result)
    assert sequential_new == len(STORIES)  # one new article per story, every copy caught
    assert concurrent_new == sequential_new
