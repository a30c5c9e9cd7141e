"""The dedup index in Redis: one atomic Lua check-and-insert per article.

`RedisDedupIndex` implements `workers.stages.dedup.DedupIndex`. All of its keys live under
`<key_prefix>:{dedup}:` - the braces are a Redis Cluster hash tag, so every key of the index is
in one slot and the Lua script (dedup_index.lua) may touch any of them atomically. Each record
key expires `window_seconds` after it is written, which bounds memory to one window of articles.

LSH bands are the bulk of an article's entries (20 of 24). One key per band cost 40 Redis
commands per article (a GET and a SET each); they live instead as fields of one hash per time
bucket (half the window), so a check is one HMGET per live bucket (3) and an insert one HSET;
the article's, URL's and text's pointers are read with one MGET: ~12 commands per article in
all. A bucket hash expires a window after its bucket ends, so a band entry lives 1 to 1.5
windows; a candidate older than the window is ignored because its record (`n:<seq>`) has
expired.

Key layout (all strings, values are the article's sequence number unless said otherwise):
  a:<article id>   the article's record seq (redelivery finds its first verdict)
  n:<seq>          the record: verdict, exact hash, sizes, MinHash signature, number sketch
  u:<url hash>     latest version at a canonical URL
  x:<exact hash>   first-seen article with that normalised text
  b:<bucket>       hash: LSH band key -> first-seen article with that band in that time bucket
  seq              the sequence counter
"""

from __future__ import annotations

import hashlib
import time
from importlib import resources
from typing import cast

import redis

from workers.errors import InfrastructureError
from workers.models import DedupLevel, DedupVerdict
from workers.stages.dedup import NUM_PERM, NUMBERS_KEPT, THRESHOLDS, TextFingerprint

_SCRIPT = resources.files("workers.adapters").joinpath("dedup_index.lua").read_text("utf-8")
_LEVELS: dict[str, DedupLevel] = {"url": "url", "exact": "exact", "near": "near"}
# Band hashes per window: more buckets keep band entries closer to the window (memory) but cost
# one more HMGET per check each. 2 keeps an entry at most half a window past it: ~5% more memory
# at a steady rate than 4 buckets (bands are 820 of an article's 1,936 bytes and live 1.25
# instead of 1.125 windows on average) for 2 fewer Redis commands per article (docs/dedup.md).
BUCKETS_PER_WINDOW = 2


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
        self._bucket_ms = max(1, window_seconds * 1000 // BUCKETS_PER_WINDOW)
        # register_script sends EVALSHA and falls back to SCRIPT LOAD once per server.
        self._script = client.register_script(_SCRIPT)

    def keys_for(
        self, article_id: str, url_key: str, fp: TextFingerprint, now_ms: int
    ) -> list[str]:
        """The keys one check-and-insert touches directly (candidate records aside): the band
        hashes of every bucket that can hold an entry of the last window, newest first."""
        base = self._base
        newest = now_ms // self._bucket_ms
        return [
            f"{base}a:{article_id}",
            f"{base}u:{url_hash(url_key)}",
            f"{base}x:{fp.exact}",
            f"{base}seq",
            *(f"{base}b:{bucket}" for bucket in range(newest, newest - BUCKETS_PER_WINDOW - 1, -1)),
        ]

    def check_and_insert(self, article_id: str, url_key: str, fp: TextFingerprint) -> DedupVerdict:
        """Decide and record this article's verdict in one atomic step (see the module doc)."""
        now_ms = int(time.time() * 1000)
        bucket_expires_at = (now_ms // self._bucket_ms + 1) * self._bucket_ms + self._window * 1000
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
            bucket_expires_at,
            *fp.bands,
        ]
        try:
            raw = self._script(keys=self.keys_for(article_id, url_key, fp, now_ms), args=args)
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
