"""One delivery at a time per (stage, article), and a count of deliveries that never finished.

`RedisStageGuard.admit` is one Lua call: if nobody else holds the article's stage lock, it takes
the lock (a key expiring after the task time limit) and counts the delivery; `release` drops both
when the delivery ends, whatever its outcome. So the counter only grows for deliveries that
never ended: a worker killed mid-stage (crash, OOM, hard time limit). The runner quarantines the
article when that count passes the cap, so a page that kills its worker stops looping.

A lock left behind by a dead process would make every redelivery wait for it to expire. The holder
token names its host and process id; a delivery on the same host takes over a lock whose process
no longer exists (another host's lock is left to expire: we cannot see its processes).

Keys (under the deployment prefix): `{prefix}:lock:{stage}:{article}` holds the holder token,
`{prefix}:deliveries:{stage}:{article}` the count of unfinished deliveries.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import redis

from workers.errors import InfrastructureError

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


def dead_local_holder(holder: str, hostname: str | None = None) -> bool:
    """True when `holder` is a process on this host that no longer exists."""
    parts = holder.split(":")
    if len(parts) < 3:
        return False
    host, pid_text = ":".join(parts[:-2]), parts[-2]
    if host != (hostname or socket.gethostname()) or not pid_text.isdigit():
        return False
    return not _process_alive(int(pid_text))


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
            if not int(answer[0]) and dead_local_holder(_text(answer[1])):
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
        """Which of `article_ids` have a live lock at `stage` (one pipelined round trip)."""
        if not article_ids:
            return set()
        pipe = self._client.pipeline(transaction=False)
        for article_id in article_ids:
            pipe.exists(self._keys(stage, article_id)[0])
        return {a for a, found in zip(article_ids, pipe.execute(), strict=True) if found}

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
