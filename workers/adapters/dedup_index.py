"""The dedup index in Redis: one atomic Lua check-and-insert per article.

`RedisDedupIndex` implements `workers.stages.dedup.DedupIndex`. All of its keys live under
`<key_prefix>:{dedup}:` - the braces are a Redis Cluster hash tag, so every key of the index is
in one slot and the Lua script (dedup_index.lua) may touch any of them atomically. Each key
expires `window_seconds` after it is written, which bounds memory to one window of articles.

Key layout (all strings, values are the article's sequence number unless said otherwise):
  a:<article id>   the article's record seq (redelivery finds its first verdict)
  n:<seq>          the record: verdict, exact hash, sizes, MinHash signature, number sketch
  u:<url hash>     latest version at a canonical URL
  x:<exact hash>   first-seen article with that normalised text
  b:<band key>     first-seen article in that LSH bucket
  seq              the sequence counter
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import cast

import redis

from workers.errors import InfrastructureError
from workers.models import DedupLevel, DedupVerdict
from workers.stages.dedup import NUM_PERM, NUMBERS_KEPT, THRESHOLDS, TextFingerprint

_SCRIPT = resources.files("workers.adapters").joinpath("dedup_index.lua").read_text("utf-8")
_LEVELS: dict[str, DedupLevel] = {"url": "url", "exact": "exact", "near": "near"}


def index_base(key_prefix: str) -> str:
    """Common start of every dedup key; `{dedup}` is the Redis Cluster hash tag they share."""
    return f"{key_prefix}:{{dedup}}:"


def url_hash(url_key: str) -> str:
    """Fixed-length key part for a canonical URL (URLs can be kilobytes long)."""
    return hashlib.blake2b(url_key.encode(), digest_size=12).hexdigest()


class RedisDedupIndex:
    """Dedup index shared by all workers through one Redis (or one Cluster slot)."""

    def __init__(self, client: redis.Redis, key_prefix: str, window_seconds: int) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._client = client
        self._base = index_base(key_prefix)
        self._window = window_seconds
        # register_script sends EVALSHA and falls back to SCRIPT LOAD once per server.
        self._script = client.register_script(_SCRIPT)

    def keys_for(self, article_id: str, url_key: str, fp: TextFingerprint) -> list[str]:
        """The keys one check-and-insert touches directly (candidate records aside)."""
        base = self._base
        return [
            f"{base}a:{article_id}",
            f"{base}u:{url_hash(url_key)}",
            f"{base}x:{fp.exact}",
            f"{base}seq",
            *(f"{base}b:{band}" for band in fp.bands),
        ]

    def check_and_insert(self, article_id: str, url_key: str, fp: TextFingerprint) -> DedupVerdict:
        """Decide and record this article's verdict in one atomic step (see the module doc)."""
        args: list[str | bytes | int | float] = [
            self._base,
            article_id,
            fp.exact,
            fp.shingles,
            fp.number_count,
            fp.signature,
            fp.numbers,
            self._window,
            THRESHOLDS.jaccard,
            THRESHOLDS.containment,
            THRESHOLDS.numbers_min,
            THRESHOLDS.numbers_containment,
            NUM_PERM,
            NUMBERS_KEPT,
        ]
        try:
            raw = self._script(keys=self.keys_for(article_id, url_key, fp), args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise InfrastructureError("redis_unavailable", str(exc)) from exc
        return _verdict(cast(list[bytes | int], raw))


def _verdict(raw: list[bytes | int]) -> DedupVerdict:
    is_dup, cluster, duplicate_of, level, similarity, version_of = (
        v.decode() if isinstance(v, bytes) else v for v in raw
    )
    return DedupVerdict(
        is_duplicate=bool(is_dup),
        cluster_id=str(cluster),
        duplicate_of=str(duplicate_of) or None,
        level=_LEVELS.get(str(level)),
        similarity=float(similarity) if similarity else None,
        version_of=str(version_of) or None,
    )
