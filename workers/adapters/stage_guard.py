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

Keys (under the deployment prefix): `{prefix}:lock:{stage}:{article}` holds the holder token,
`{prefix}:deliveries:{stage}:{article}` the count of unfinished deliveries,
`{prefix}:alive:{host}:{pid}` a stage-running process's heartbeat. Its value is JSON naming the
worker (Celery node name) and the queues the process consumes, `{"node": ..., "queues": [...],
"pid": ...}`, so the same keys say how many workers consume each queue
(`workers.observe.worker_processes`); an older worker's value, `1`, names none.
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

_ADMIT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and holder ~= ARGV[4] then
  return {0, holder, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, n, 0}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
"""
# A crash loop that lasts longer than a day is an outage, not a poison page: forget the count.
DELIVERIES_TTL_S = 86_400
# A heartbeat is refreshed every 10 s and lives 30 s: two missed beats (a long GC pause, a Redis
# hiccup) are tolerated; a killed worker's locks are free within half a minute.
HEARTBEAT_EVERY_S = 10.0
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
    """Keeps this process's heartbeat key alive from a daemon thread (started once per process,
    when a worker process starts or on its first task: a forked child starts its own)."""

    def __init__(self, client: Any, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._pid = 0
        self._value = b"1"

    def announce(self, node: str, queues: Iterable[str]) -> None:
        """Say which worker this process belongs to and which queues it consumes (from the
        next beat on)."""
        payload = {"node": node, "queues": sorted(queues), "pid": os.getpid()}
        self._value = json.dumps(payload, separators=(",", ":")).encode()
        if self._pid == os.getpid():
            self.beat()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self.beat()
        threading.Thread(target=self._loop, name="newsflow-heartbeat", daemon=True).start()

    def beat(self) -> None:
        # The container's liveness probe reads this file (workers.healthcheck), Redis or not.
        touch_health_file()
        # On a Redis error the next beat will do; our locks may be taken over meanwhile, which
        # the stages' idempotence makes harmless.
        with contextlib.suppress(redis.RedisError):
            self._client.set(alive_key(self._prefix, process_id()), self._value, ex=HEARTBEAT_TTL_S)

    def _loop(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(HEARTBEAT_EVERY_S)
            self.beat()


def alive_key(key_prefix: str, process: str) -> str:
    return f"{key_prefix}:alive:{process}"


class RedisStageGuard:
    """The stage lock and unfinished-delivery counter of every article, in Redis."""

    def __init__(self, client: Any, key_prefix: str, lock_seconds: int) -> None:
        self._client = client
        self._prefix = key_prefix
        self.lock_seconds = lock_seconds
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)

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
        try:
            self._release(keys=self._keys(stage, article_id), args=[holder])
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"stage guard: {exc}") from exc

    def held(self, stage: str, article_ids: list[str]) -> set[str]:
        """Which of `article_ids` are locked at `stage` by a live process (two round trips)."""
        if not article_ids:
            return set()
        holders = self._client.mget([self._keys(stage, a)[0] for a in article_ids])
        locked = {a: _text(h) for a, h in zip(article_ids, holders, strict=True) if h}
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
            keys=self._keys(stage, article_id),
            args=[holder, self.lock_seconds * 1000, DELIVERIES_TTL_S, takeover_from],
        )

    def _keys(self, stage: str, article_id: str) -> list[str]:
        return [
            f"{self._prefix}:lock:{stage}:{article_id}",
            f"{self._prefix}:deliveries:{stage}:{article_id}",
        ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
