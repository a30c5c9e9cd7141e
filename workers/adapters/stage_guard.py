"""One delivery at a time per (stage, article), and a count of deliveries that never finished.

`RedisStageGuard.admit` is one Lua call: if nobody else holds the article's stage lock, it takes
the lock (a key expiring after the task time limit) and counts the delivery; `release` drops both
when the delivery ends, whatever its outcome. So the counter only grows for deliveries that
never ended: a worker killed mid-stage (crash, OOM, hard time limit). The runner quarantines the
article when that count passes the cap, so a page that kills its worker stops looping.

A lock left behind by a dead process would make every redelivery (and the reconciler) wait for
it to expire, minutes after the task time limit. So every process that runs stages keeps a
heartbeat key alive (`Heartbeat`: refreshed every 10 s, gone 30 s after its process stops) and
the holder token names that process ("host:pid:random"): a lock whose holder has no heartbeat,
or whose process on this host no longer exists, is dead and is taken over at once. A process
that hangs keeps its heartbeat; its locks still end with their expiry.

Keys (under the deployment prefix): `{prefix}:lock:{stage}:{article}` holds
"holder|unfinished deliveries|lock end (ms)", `{prefix}:alive:{host}:{pid}` a stage-running
process's heartbeat, whose value says which queues the process consumes and the Celery worker
it belongs to (JSON `{"queues": [...], "node": "..."}`; an empty list and no node where it is
not known), and `{prefix}:heartbeats` a sorted
set of those processes by last beat, so "who is alive, on which queues" (`live_processes`) is
two round trips instead of a scan of every key. Lock ends are computed from the caller's clock:
machines' clocks must agree to well within the lock's length (minutes), as NTP keeps them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from workers.errors import InfrastructureError
from workers.healthcheck import touch as touch_health_file

# One key per (stage, article) holds "holder|deliveries|until_ms": the lock and the count of
# unfinished deliveries together (two keys cost twice the commands; benchmarks/pipeline.py
# counts them). A first delivery, by far the common case, finds no key: one SET NX takes the
# lock and counts it. Only when the key exists (a redelivery, a concurrent one, a takeover) is
# it read and rewritten. A release is one GET and one DEL.
# The key lives DELIVERIES_TTL_S for the count; the lock part ends at until_ms.
_ADMIT = """
if redis.call('SET', KEYS[1], ARGV[1] .. '|1|' .. (tonumber(ARGV[2]) + tonumber(ARGV[3])),
              'NX', 'EX', ARGV[4]) then
  return {1, 1, 0}
end
local raw = redis.call('GET', KEYS[1])
local n = 0
if raw then
  local holder, count, until_ms = string.match(raw, '^(.*)|(%d+)|(%d+)$')
  if holder then
    n = tonumber(count)
    local left = tonumber(until_ms) - tonumber(ARGV[2])
    if left > 0 and holder ~= ARGV[1] and holder ~= ARGV[5] then
      return {0, holder, left}
    end
  end
end
n = n + 1
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. n .. '|' .. (tonumber(ARGV[2]) + tonumber(ARGV[3])),
           'EX', ARGV[4])
return {1, n, 0}
"""
_RELEASE = """
local raw = redis.call('GET', KEYS[1])
if raw and string.sub(raw, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
end
return 1
"""
# How long the count of unfinished deliveries outlives the last one. A lost delivery comes back
# at once (a pool process died) or from the reconciler (NEWSFLOW_STRANDED_AFTER +
# NEWSFLOW_RECONCILE_INTERVAL, 150 s by default), well within an hour; a crash loop slower than
# that is an outage, not a poison page. Successful deliveries leave their key to this expiry
# (the runner does not release them), so it also bounds the guard's memory: an hour of articles.
DELIVERIES_TTL_S = 3_600
# A heartbeat is refreshed every 10 s and lives 30 s: two missed beats (a long GC pause, a Redis
# hiccup) are tolerated; a killed worker's locks are free within half a minute.
HEARTBEAT_EVERY_S = 10.0
# A release that failed is tried again after 1 s, then backing off to every 30 s: Redis comes
# back from a restart in seconds; a lock it still holds ends by itself after lock_seconds.
RELEASE_RETRY_S = 1.0
RELEASE_RETRY_MAX_S = 30.0
HEARTBEAT_TTL_S = 30


@dataclass(frozen=True, slots=True)
class Admission:
    """The guard's answer: admitted (with the count of unfinished deliveries, this one included),
    or busy (another holder, and how long its lock still runs)."""

    admitted: bool
    deliveries: int = 0
    holder: str | None = None
    busy_for_s: float = 0.0


def process_id() -> str:
    """This process as lock holders name it: "host:pid" (a holder adds a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def holder_process(holder: str) -> str:
    """The "host:pid" part of a holder token "host:pid:random"."""
    return holder.rpartition(":")[0]


def dead_local_holder(holder: str, hostname: str | None = None) -> bool:
    """True when `holder` is a process on this host that no longer exists."""
    host, _, pid_text = holder_process(holder).rpartition(":")
    if host != (hostname or socket.gethostname()) or not pid_text.isdigit():
        return False
    return not _process_alive(int(pid_text))


class Heartbeat:
    """Keeps this process's heartbeat key alive from a daemon thread (started on first use in
    each process: a forked child starts its own). `queues` are the queues the process consumes
    and `node` the Celery worker (node name) it belongs to, carried in the key's value for
    dashboards and metrics ("workers per queue"). Each beat also touches the file the
    container's liveness probe reads (workers.healthcheck), whether or not Redis answers."""

    def __init__(
        self, client: Any, key_prefix: str, queues: Iterable[str] = (), node: str = ""
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._pid = 0
        self.queues: frozenset[str] = frozenset(queues)
        self.node = node

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self.beat()
        threading.Thread(target=self._loop, name="newsflow-heartbeat", daemon=True).start()

    def beat(self) -> None:
        # On a Redis error the next beat will do; our locks may be taken over meanwhile, which
        # the stages' idempotence makes harmless.
        touch_health_file()
        process = process_id()
        now = time.time()
        payload: dict[str, Any] = {"queues": sorted(self.queues)}
        if self.node:
            payload["node"] = self.node
        value = json.dumps(payload)
        with contextlib.suppress(redis.RedisError):
            pipe = self._client.pipeline(transaction=False)
            pipe.set(alive_key(self._prefix, process), value, ex=HEARTBEAT_TTL_S)
            pipe.zadd(heartbeats_key(self._prefix), {process: now})
            # Processes gone for long drop out of the index (the key itself expired long ago).
            pipe.zremrangebyscore(heartbeats_key(self._prefix), "-inf", now - INDEX_KEEP_S)
            pipe.execute()

    def stop(self) -> None:
        """No more beats from this process (its services are closing): the thread ends at its
        next wake-up without beating, and the process drops out of the index like any other."""
        self._pid = 0

    def _loop(self) -> None:
        pid = os.getpid()
        while True:
            time.sleep(HEARTBEAT_EVERY_S)
            if self._pid != pid:
                return
            self.beat()


# A process stays in the heartbeat index this long after its last beat: far past its key's TTL
# (so clocks that differ between hosts never drop a live one), short enough to keep it small.
INDEX_KEEP_S = 3600


def alive_key(key_prefix: str, process: str) -> str:
    return f"{key_prefix}:alive:{process}"


def heartbeats_key(key_prefix: str) -> str:
    return f"{key_prefix}:heartbeats"


@dataclass(frozen=True, slots=True)
class LiveProcess:
    """A process with a live heartbeat: "host:pid", the queues it consumes (empty when the
    process did not say, e.g. one started by an older release) and its Celery node name ("" when
    it did not say)."""

    process: str
    queues: frozenset[str]
    node: str = ""

    @property
    def host(self) -> str:
        return self.process.rpartition(":")[0]


def live_processes(client: Any, key_prefix: str) -> list[LiveProcess]:
    """Every stage-running process whose heartbeat key is alive now, with its queues."""
    members = [_text(m) for m in client.zrange(heartbeats_key(key_prefix), 0, -1)]
    if not members:
        return []
    values = client.mget([alive_key(key_prefix, m) for m in members])
    live = []
    for process, raw in zip(members, values, strict=True):
        if raw is None:
            continue  # its key expired: the process stopped beating
        try:
            payload = json.loads(raw)
            queues = frozenset(str(q) for q in payload.get("queues") or ())
            node = str(payload.get("node") or "")
        except (ValueError, TypeError, AttributeError):
            queues, node = frozenset(), ""  # "1": the value of releases before queues
        live.append(LiveProcess(process, queues, node))
    return live


def workers_per_queue(
    processes: Iterable[LiveProcess], queues: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Per queue: live processes consuming it, the hosts they run on, and the workers (Celery
    nodes; a process that names none counts as its own)."""
    found = list(processes)
    return {
        queue: {
            "processes": sum(1 for p in found if queue in p.queues),
            "hosts": len({p.host for p in found if queue in p.queues}),
            "workers": len({p.node or p.process for p in found if queue in p.queues}),
        }
        for queue in queues
    }


class RedisStageGuard:
    """The stage lock and unfinished-delivery counter of every article, in Redis."""

    def __init__(self, client: Any, key_prefix: str, lock_seconds: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self.lock_seconds = lock_seconds
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)
        # Releases that failed (Redis away): retried from a background thread until they go
        # through. A lock left behind holds its article back from the reconciler (its holder
        # is alive) until the lock ends, minutes later; its delivery is long over.
        self._unreleased: set[tuple[str, str, str]] = set()
        self._unreleased_lock = threading.Lock()
        self._retrying = False

    def admit(self, stage: str, article_id: str, holder: str) -> Admission:
        try:
            answer = self._call_admit(stage, article_id, holder, takeover_from="")
            if not int(answer[0]) and self._dead(_text(answer[1])):
                answer = self._call_admit(stage, article_id, holder, _text(answer[1]))
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"stage guard: {exc}") from exc
        if int(answer[0]):
            return Admission(admitted=True, deliveries=int(answer[1]))
        return Admission(
            admitted=False, holder=_text(answer[1]), busy_for_s=max(0, int(answer[2])) / 1000
        )

    def release(self, stage: str, article_id: str, holder: str) -> None:
        """End this delivery's hold. When Redis cannot be reached the release is retried in
        the background until it goes through (and InfrastructureError says it was late)."""
        try:
            self._release(keys=[self._key(stage, article_id)], args=[holder])
        except redis.RedisError as exc:
            self._release_later(stage, article_id, holder)
            raise InfrastructureError("redis_unavailable", f"stage guard: {exc}") from exc

    def pending_releases(self) -> int:
        with self._unreleased_lock:
            return len(self._unreleased)

    def _release_later(self, stage: str, article_id: str, holder: str) -> None:
        with self._unreleased_lock:
            self._unreleased.add((stage, article_id, holder))
            if self._retrying:
                return
            self._retrying = True
        threading.Thread(
            target=self._retry_releases, name="newsflow-guard-release", daemon=True
        ).start()

    def _retry_releases(self) -> None:
        delay = RELEASE_RETRY_S
        while True:
            time.sleep(delay)
            with self._unreleased_lock:
                pending = sorted(self._unreleased)
            for stage, article_id, holder in pending:
                try:
                    self._release(keys=[self._key(stage, article_id)], args=[holder])
                except redis.RedisError:
                    break  # still away: try again later
                with self._unreleased_lock:
                    self._unreleased.discard((stage, article_id, holder))
            with self._unreleased_lock:
                if not self._unreleased:
                    self._retrying = False
                    return
            delay = min(delay * 2, RELEASE_RETRY_MAX_S)

    def held(self, stage: str, article_ids: list[str]) -> set[str]:
        """Which of `article_ids` are locked at `stage` by a live process (two round trips)."""
        if not article_ids:
            return set()
        values = self._client.mget([self._key(stage, a) for a in article_ids])
        now_ms = _now_ms()
        locked: dict[str, str] = {}
        for article_id, value in zip(article_ids, values, strict=True):
            lock = _parse_lock(value)
            if lock is not None and lock[1] > now_ms:
                locked[article_id] = lock[0]
        if not locked:
            return set()
        beating = self._beating([holder_process(h) for h in locked.values()])
        return {
            a for a, h in locked.items()
            if holder_process(h) in beating and not dead_local_holder(h)
        }  # fmt: skip

    def _dead(self, holder: str) -> bool:
        process = holder_process(holder)
        return dead_local_holder(holder) or process not in self._beating([process])

    def _beating(self, processes: list[str]) -> set[str]:
        unique = sorted(set(processes))
        found = self._client.mget([alive_key(self._prefix, p) for p in unique])
        return {p for p, beat in zip(unique, found, strict=True) if beat}

    def _call_admit(self, stage: str, article_id: str, holder: str, takeover_from: str) -> Any:
        return self._admit(
            keys=[self._key(stage, article_id)],
            args=[holder, _now_ms(), self.lock_seconds * 1000, DELIVERIES_TTL_S, takeover_from],
        )

    def _key(self, stage: str, article_id: str) -> str:
        return f"{self._prefix}:lock:{stage}:{article_id}"


def _parse_lock(value: Any) -> tuple[str, int] | None:
    """(holder, lock end in ms) of a stored "holder|deliveries|until_ms", None if absent."""
    if not value:
        return None
    holder, _, tail = _text(value).rpartition("|")  # tail: until_ms
    holder = holder.rpartition("|")[0]  # drop the deliveries count
    return (holder, int(tail)) if holder and tail.isdigit() else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
