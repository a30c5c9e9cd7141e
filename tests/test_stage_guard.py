"""The stage guard in Redis: one delivery at a time per (stage, article), and a count of the
deliveries that never finished."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import redis

from tests.waiting import wait_until
from workers.adapters import stage_guard
from workers.adapters.stage_guard import (
    Heartbeat,
    LiveProcess,
    RedisStageGuard,
    alive_key,
    dead_local_holder,
    heartbeats_key,
    live_processes,
    process_id,
    workers_per_queue,
)
from workers.errors import InfrastructureError


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
    beat.stop()


def test_a_stopped_heartbeat_beats_no_more(
    redis_client: redis.Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Services.close() stops the process's beats: nothing writes its keys again afterwards
    (a test's keys stay deleted; a closing process drops out like a dead one)."""
    # A beat every 50 ms instead of every 10 s, so a beat after the stop would show at once.
    monkeypatch.setattr(stage_guard, "HEARTBEAT_EVERY_S", 0.05)
    beat = Heartbeat(redis_client, key_prefix)
    beat.ensure_running()
    assert wait_until(lambda: redis_client.exists(heartbeats_key(key_prefix)))
    beat.stop()
    time.sleep(0.1)  # a beat already under way when stop() came
    redis_client.delete(alive_key(key_prefix, process_id()), heartbeats_key(key_prefix))
    time.sleep(0.3)  # six beat intervals
    assert not redis_client.exists(heartbeats_key(key_prefix))
    assert not redis_client.exists(alive_key(key_prefix, process_id()))


def test_a_lock_past_its_end_is_taken_over_and_the_count_goes_on(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """A holder that outlived its lock (hung past the time limit) no longer blocks; the
    unfinished delivery still counts toward the cap."""
    g = RedisStageGuard(redis_client, key_prefix, lock_seconds=1)
    Heartbeat(redis_client, key_prefix).beat()
    redis_client.set(alive_key(key_prefix, "other-host:77"), b"1", ex=30)  # hung, still beating
    g.admit("clean", "a1", "other-host:77:one")
    assert not g.admit("clean", "a1", f"{process_id()}:two").admitted
    assert g.held("clean", ["a1"]) == {"a1"}
    time.sleep(1.1)
    again = g.admit("clean", "a1", f"{process_id()}:two")
    assert (again.admitted, again.deliveries) == (True, 2)
    assert g.held("clean", ["a1"]) == {"a1"}


def test_one_key_per_stage_and_article(redis_client: redis.Redis, key_prefix: str) -> None:
    g = guard(redis_client, key_prefix)
    g.admit("clean", "a1", f"{process_id()}:one")
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{key_prefix}:lock:*")}
    assert keys == {f"{key_prefix}:lock:clean:a1"}
    assert 3_500 < redis_client.ttl(f"{key_prefix}:lock:clean:a1") <= 3_600  # the count: an hour


def test_a_heartbeat_names_the_queues_its_process_consumes(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    Heartbeat(redis_client, key_prefix, queues=["fetch", "crawl"]).beat()
    assert live_processes(redis_client, key_prefix) == [
        LiveProcess(process_id(), frozenset({"crawl", "fetch"}))
    ]


def test_workers_per_queue_count_live_processes_and_their_hosts(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    Heartbeat(redis_client, key_prefix, queues=["clean"]).beat()
    for process, queues in (("host-b:1", ["clean"]), ("host-b:2", ["clean", "dedup"])):
        redis_client.set(alive_key(key_prefix, process), json.dumps({"queues": queues}), ex=30)
        redis_client.zadd(heartbeats_key(key_prefix), {process: time.time()})
    redis_client.zadd(heartbeats_key(key_prefix), {"host-c:9": time.time()})  # key expired
    counts = workers_per_queue(
        live_processes(redis_client, key_prefix), ["clean", "dedup", "fetch"]
    )
    # No process named its worker: each counts as a worker of its own.
    assert counts == {
        "clean": {"processes": 3, "hosts": 2, "workers": 3},
        "dedup": {"processes": 1, "hosts": 1, "workers": 1},
        "fetch": {"processes": 0, "hosts": 0, "workers": 0},
    }


def test_a_heartbeat_names_its_worker_and_workers_are_counted_by_node(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """Two pool processes of one prefork worker are one worker (newsflow_queue_workers) and
    two processes; the key alone still means "alive" to the guard."""
    Heartbeat(redis_client, key_prefix, queues=["clean"], node="clean.1@host-a").beat()
    payload = json.loads(redis_client.get(alive_key(key_prefix, process_id())) or b"")
    assert payload == {"queues": ["clean"], "node": "clean.1@host-a"}
    sibling = f"{socket.gethostname()}:2"  # another pool process of the same worker
    redis_client.set(
        alive_key(key_prefix, sibling),
        json.dumps({"queues": ["clean"], "node": "clean.1@host-a"}),
        ex=30,
    )
    redis_client.zadd(heartbeats_key(key_prefix), {sibling: time.time()})
    live = live_processes(redis_client, key_prefix)
    assert {p.node for p in live} == {"clean.1@host-a"}
    assert workers_per_queue(live, ["clean"]) == {
        "clean": {"processes": 2, "hosts": 1, "workers": 1}
    }
    g = RedisStageGuard(redis_client, key_prefix, lock_seconds=330)
    assert g.admit("clean", "a1", f"{process_id()}:one").admitted
    assert not g.admit("clean", "a1", "other-host:1:two").admitted


def test_a_heartbeat_of_an_older_release_counts_with_no_queue(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    redis_client.set(alive_key(key_prefix, "old:1"), b"1", ex=30)
    redis_client.zadd(heartbeats_key(key_prefix), {"old:1": time.time()})
    assert live_processes(redis_client, key_prefix) == [LiveProcess("old:1", frozenset())]


def test_a_release_that_fails_while_redis_is_away_goes_through_once_it_is_back(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    """A lock left behind would keep its article from the reconciler (its holder is alive)
    for minutes after the delivery ended."""
    g = guard(redis_client, key_prefix)
    holder = f"{process_id()}:one"
    assert g.admit("dedup", "a1", holder).admitted
    g._release = _fails_once(g._release)  # the outermost seam: Redis refusing one call
    with pytest.raises(InfrastructureError):
        g.release("dedup", "a1", holder)
    assert g.pending_releases() == 1
    assert wait_until(lambda: g.pending_releases() == 0, timeout=10)
    assert g.held("dedup", ["a1"]) == set()


def _fails_once(script):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def call(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise redis.ConnectionError("Error 111 connecting: Connection refused.")
        return script(*args, **kwargs)

    return call
