"""Deliveries put off until later (retries, a polite host's turn), kept in Redis, not in ETAs.

A message with a countdown would sit in one worker's memory until due, be redelivered elsewhere
once it outlived the visibility timeout, and die with its worker. Instead a deferred delivery is
one member of a sorted set scored by its due time; the dispatcher (`workers.dispatcher`, run by
the scheduler process) pops due members atomically and puts them on their stage queue. Several
dispatchers are safe: a Lua script hands each member to one of them.

The store records every deferral that matters (retries, politeness: `due_at`), so a member lost
with a Redis that keeps nothing on disk is found again by the reconciler.

Keys: `{prefix}:deferred` (sorted set, member "stage|article_id", score = due, epoch seconds) and
`{prefix}:deferred:data` (hash, member -> JSON with the slot reservation and infra attempt).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from workers.errors import InfrastructureError
from workers.models import SlotReservation

# Pops due members with their data, and answers how long until the next one left is due (-1:
# none). Redis's own clock decides what is due, the clock the rate limiter's slots are in.
_POP_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
local data = {}
if #due > 0 then
  data = redis.call('HMGET', KEYS[2], unpack(due))
  for i = 1, #data do
    if not data[i] then data[i] = '' end
  end
  redis.call('ZREM', KEYS[1], unpack(due))
  redis.call('HDEL', KEYS[2], unpack(due))
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {due, data, '-1'} end
return {due, data, tostring(math.max(0, tonumber(nxt[2]) - now))}
"""
# Members popped per call: small enough for Lua's unpack() and a quick script.
POP_BATCH = 500


@dataclass(frozen=True, slots=True)
class DeferredDelivery:
    """A delivery to send again later: the stage, the article, and what it carries."""

    stage: str
    article_id: str
    reservation: SlotReservation | None = None
    infra_attempt: int = 0

    @property
    def member(self) -> str:
        return f"{self.stage}|{self.article_id}"

    def data(self) -> str:
        slot = [self.reservation.host, self.reservation.at] if self.reservation else None
        return json.dumps({"slot": slot, "infra_attempt": self.infra_attempt})

    @classmethod
    def parse(cls, member: str, data: str) -> DeferredDelivery:
        stage, _, article_id = member.partition("|")
        extra = json.loads(data) if data else {}
        slot = extra.get("slot")
        return cls(
            stage=stage,
            article_id=article_id,
            reservation=SlotReservation(str(slot[0]), float(slot[1])) if slot else None,
            infra_attempt=int(extra.get("infra_attempt") or 0),
        )


class RedisDeferrals:
    def __init__(self, client: Any, key_prefix: str) -> None:
        self._client = client
        self._key = f"{key_prefix}:deferred"
        self._data_key = f"{key_prefix}:deferred:data"
        self._pop_due = client.register_script(_POP_DUE)

    def defer(self, delivery: DeferredDelivery, at: float) -> None:
        """Send `delivery` again at `at` (epoch seconds); a later deferral of the same stage and
        article replaces an earlier one."""
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.zadd(self._key, {delivery.member: at})
            pipe.hset(self._data_key, delivery.member, delivery.data())
            pipe.execute()
        except redis.RedisError as exc:
            raise InfrastructureError("redis_unavailable", f"deferrals: {exc}") from exc

    def pop_due(self, limit: int = POP_BATCH) -> tuple[list[DeferredDelivery], float | None]:
        """Take up to `limit` due deliveries; also how many seconds until the next one left is
        due (0 when more are due now, None when nothing else is deferred)."""
        members, data, next_in = self._pop_due(keys=[self._key, self._data_key], args=[limit])
        due = [
            DeferredDelivery.parse(_text(m), _text(d)) for m, d in zip(members, data, strict=True)
        ]
        wait = float(_text(next_in))
        return due, (None if wait < 0 else wait)

    def scheduled(self, stage: str, article_ids: list[str]) -> set[str]:
        """Which of `article_ids` have a deferred delivery at `stage` (one ZMSCORE)."""
        if not article_ids:
            return set()
        scores = self._client.zmscore(self._key, [f"{stage}|{a}" for a in article_ids])
        return {a for a, score in zip(article_ids, scores, strict=True) if score is not None}

    def count(self) -> int:
        return int(self._client.zcard(self._key))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
