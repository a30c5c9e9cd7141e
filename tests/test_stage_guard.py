"""The stage guard in Redis: one delivery at a time per (stage, article), and a count of the
deliveries that never finished."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import redis

from workers.adapters.stage_guard import (
    Heartbeat,
    RedisStageGuard,
    alive_key,
    dead_local_holder,
    process_id,
)


def guard(client: redis.Redis, prefix: str) -> RedisStageGuard:
    """A guard in a process whose heartbeat runs, as in a worker."""
    Heartbeat(client, prefix).beat()
    return RedisStageGuard(client, prefix, lock_seconds=330)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_one_delivery_holds_a_stage_of_an_article_at_a_time(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    g = guard(redis_client, key_prefix)
    first = g.admit("clean", "a1", f"{process_id()}:one")
    second = g.admit("clean", "a1", "elsewhere:1:two")
    assert (first.admitted, first.deliveries) == (True, 1)
    assert not second.admitted
    assert second.holder == f"{process_id()}:one"
    assert 300 < second.busy_for_s <= 330
    assert g.admit("fetch", "a1", "elsewhere:1:two").admitted  # another stage is free


def test_a_released_delivery_is_not_counted_again(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    g = guard(redis_client, key_prefix)
    g.admit("clean", "a1", "h:1:one")
    g.release("clean", "a1", "h:1:one")
    assert g.admit("clean", "a1", "h:1:two").deliveries == 1


def test_a_delivery_whose_process_died_is_counted_and_its_lock_taken_over(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    g = guard(redis_client, key_prefix)
    crashed = f"{socket.gethostname()}:{dead_pid()}:one"
    g.admit("clean", "a1", crashed)  # then the process died: no release
    again = g.admit("clean", "a1", f"{process_id()}:two")
    assert (again.admitted, again.deliveries) == (True, 2)


def test_a_live_local_holder_is_not_taken_over(redis_client: redis.Redis, key_prefix: str) -> None:
    g = guard(redis_client, key_prefix)
    g.admit("clean", "a1", f"{process_id()}:one")
    assert not g.admit("clean", "a1", f"{process_id()}:two").admitted


def test_a_holder_on_another_host_is_left_to_its_lock_expiry() -> None:
    assert not dead_local_holder(f"another-host:{dead_pid()}:x")
    assert dead_local_holder(f"{socket.gethostname()}:{dead_pid()}:x")
    assert not dead_local_holder(f"{socket.gethostname()}:{os.getpid()}:x")


def test_releasing_someone_elses_lock_leaves_it(redis_client: redis.Redis, key_prefix: str) -> None:
    g = guard(redis_client, key_prefix)
    mine = f"{process_id()}:one"
    g.admit("clean", "a1", mine)
    g.release("clean", "a1", f"{process_id()}:late")  # its lock expired and was taken over
    assert g.held("clean", ["a1", "a2"]) == {"a1"}


def test_a_lock_whose_holder_stopped_beating_is_taken_over(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """A worker on another machine died: its heartbeat expired, its lock is free."""
    g = guard(redis_client, key_prefix)
    redis_client.set(alive_key(key_prefix, "other-host:77"), b"1", ex=30)
    g.admit("dedup", "a1", "other-host:77:one")
    assert not g.admit("dedup", "a1", f"{process_id()}:two").admitted
    assert g.held("dedup", ["a1"]) == {"a1"}
    redis_client.delete(alive_key(key_prefix, "other-host:77"))  # 30 s without a beat
    assert g.held("dedup", ["a1"]) == set()
    again = g.admit("dedup", "a1", f"{process_id()}:two")
    assert (again.admitted, again.deliveries) == (True, 2)


def test_a_heartbeat_runs_in_its_own_thread_once_per_process(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    beat = Heartbeat(redis_client, key_prefix)
    beat.ensure_running()
    beat.ensure_running()
    assert redis_client.ttl(alive_key(key_prefix, process_id())) > 20


def test_a_heartbeat_names_its_worker_and_queues_and_still_keeps_its_locks(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """The value says who consumes what (newsflow_queue_workers); the key alone still means
    "alive" to the guard, so a lock held by this process is not taken over."""
    from workers.observe import worker_processes, workers_per_queue

    beat = Heartbeat(redis_client, key_prefix)
    beat.announce("fetch.1@host-a", ["fetch", "crawl"])
    beat.beat()
    payload = json.loads(redis_client.get(alive_key(key_prefix, process_id())) or b"")
    assert payload == {"node": "fetch.1@host-a", "queues": ["crawl", "fetch"], "pid": os.getpid()}
    assert 0 < redis_client.ttl(alive_key(key_prefix, process_id())) <= 30
    [proc] = worker_processes(redis_client, key_prefix)
    assert (proc.process, proc.node, proc.queues) == (
        process_id(),
        "fetch.1@host-a",
        ("crawl", "fetch"),
    )
    assert workers_per_queue([proc])["fetch"] == {"workers": 1, "processes": 1}
    g = RedisStageGuard(redis_client, key_prefix, lock_seconds=330)
    assert g.admit("fetch", "a1", f"{process_id()}:one").admitted
    assert not g.admit("fetch", "a1", "other-host:1:two").admitted
