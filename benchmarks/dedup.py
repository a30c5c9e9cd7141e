"""Dedup benchmark: quality on the dev pairs, speed and memory through Redis, concurrency leaks.

Reads ../shared/data/dedup-dev (docs.jsonl.gz, pairs.jsonl) relative to the repo root, or
--data DIR. Runs the real stage (fingerprint_text + RedisDedupIndex) against --redis in a fresh
key prefix that is deleted afterwards, and prints:
  - pair precision / recall overall and per kind (two docs are predicted duplicates when they
    end in the same story: the same `duplicate_of`-or-self first-seen article);
  - throughput (articles/s) and p50/p99 latency of check_and_insert, end to end and Redis only;
  - Redis bytes per indexed article (MEMORY USAGE summed over the index's keys);
  - copies accepted as new by one process in order against --workers processes at once.

    .venv/bin/python benchmarks/dedup.py [--data DIR] [--redis URL] [--workers 8] [--shuffle SEED]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.adapters.dedup_index import RedisDedupIndex, index_base
from workers.models import DedupVerdict
from workers.stages.dedup import TextFingerprint, fingerprint_text

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dedup-dev"
WINDOW = 3600


def load(data: Path) -> tuple[list[tuple[str, str]], list[dict[str, object]]]:
    docs_path, pairs_path = data / "docs.jsonl.gz", data / "pairs.jsonl"
    if not docs_path.exists() or not pairs_path.exists():
        sys.exit(f"dedup dev data not found in {data} (pass --data DIR with docs.jsonl.gz)")
    with gzip.open(docs_path, "rt", encoding="utf-8") as fh:
        docs = [(d["doc_id"], d["text"]) for d in map(json.loads, fh)]
    with pairs_path.open(encoding="utf-8") as fh:
        pairs = [json.loads(line) for line in fh]
    return docs, pairs


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    pattern = index_base(prefix).replace("{", "\\{").replace("}", "\\}") + "*"
    keys = list(client.scan_iter(match=pattern, count=5000))
    for i in range(0, len(keys), 1000):
        client.unlink(*keys[i : i + 1000])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quality(pairs: list[dict[str, object]], verdicts: dict[str, DedupVerdict]) -> None:
    def story(doc: str) -> str:
        return verdicts[doc].duplicate_of or doc

    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    tp = fp = fn = 0
    for pair in pairs:
        same = story(str(pair["a"])) == story(str(pair["b"]))
        kind = str(pair["kind"])
        by_kind[kind]["n"] += 1
        by_kind[kind]["merged"] += same
        if pair["label"] == 1:
            tp += same
            fn += not same
        else:
            fp += same
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    print(f"pairs: precision {precision:.4f}  recall {recall:.4f}  (tp {tp}, fp {fp}, fn {fn})")
    for kind, c in sorted(by_kind.items()):
        label = "kept apart" if kind.startswith("neg") else "caught"
        share = c["merged"] / c["n"] if label == "caught" else 1 - c["merged"] / c["n"]
        print(f"  {kind:18s} {label:10s} {share:.3f}  of {c['n']}")


def sequential(
    client: redis.Redis, docs: list[tuple[str, str]]
) -> tuple[dict[str, DedupVerdict], float]:
    prefix = f"nfbench:{uuid.uuid4().hex[:8]}"
    index = RedisDedupIndex(client, prefix, WINDOW)
    verdicts: dict[str, DedupVerdict] = {}
    total: list[float] = []
    redis_only: list[float] = []
    start = time.perf_counter()
    for doc_id, text in docs:
        t0 = time.perf_counter()
        fp = fingerprint_text(text)
        t1 = time.perf_counter()
        verdicts[doc_id] = index.check_and_insert(doc_id, doc_id, fp)
        t2 = time.perf_counter()
        total.append(t2 - t0)
        redis_only.append(t2 - t1)
    elapsed = time.perf_counter() - start
    print(
        f"sequential: {len(docs)} articles in {elapsed:.2f}s"
        f" = {len(docs) / elapsed:.0f}/s end to end"
    )
    print(
        f"  latency end to end p50 {pct(total, 0.5) * 1e3:.2f} ms"
        f" p99 {pct(total, 0.99) * 1e3:.2f} ms;"
        f" check_and_insert only p50 {pct(redis_only, 0.5) * 1e3:.2f} ms"
        f" p99 {pct(redis_only, 0.99) * 1e3:.2f} ms ({len(docs) / sum(redis_only):.0f}/s)"
    )
    pattern = index_base(prefix).replace("{", "\\{").replace("}", "\\}") + "*"
    keys = list(client.scan_iter(match=pattern, count=5000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    used = sum(int(v or 0) for v in pipe.execute())
    print(f"  redis: {len(keys)} keys, {used / len(docs):.0f} bytes per indexed article")
    delete_prefix(client, prefix)
    return verdicts, elapsed


def _worker(
    url: str, prefix: str, docs: list[tuple[str, TextFingerprint]], barrier: object, out: object
) -> None:
    client = redis.Redis.from_url(url)
    index = RedisDedupIndex(client, prefix, WINDOW)
    barrier.wait()  # type: ignore[attr-defined]
    out.put([(doc, index.check_and_insert(doc, doc, fp)) for doc, fp in docs])  # type: ignore[attr-defined]


def concurrent(
    url: str, docs: list[tuple[str, str]], workers: int
) -> tuple[dict[str, DedupVerdict], dict[str, DedupVerdict]]:
    """Verdicts of `workers` processes sharing the stream (round robin), and of a sequential
    replay of the same stream in the order the index committed it (its `seq` numbers). With an
    atomic check-and-insert the two must be identical: no interleaving can change a verdict."""
    fps = [(doc, fingerprint_text(text)) for doc, text in docs]
    prefix = f"nfbench:{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, prefix, fps[i::workers], barrier, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    verdicts: dict[str, DedupVerdict] = {}
    for _ in procs:
        verdicts.update(out.get())
    for p in procs:
        p.join()
    client = redis.Redis.from_url(url)
    base = index_base(prefix)
    seqs = client.mget([f"{base}a:{doc}" for doc, _ in fps])
    committed = sorted(zip((int(s or 0) for s in seqs), range(len(fps)), strict=True))
    delete_prefix(client, prefix)
    replay_prefix = f"nfbench:{uuid.uuid4().hex[:8]}"
    index = RedisDedupIndex(client, replay_prefix, WINDOW)
    replayed = {
        fps[i][0]: index.check_and_insert(fps[i][0], fps[i][0], fps[i][1]) for _, i in committed
    }
    delete_prefix(client, replay_prefix)
    return verdicts, replayed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--shuffle", type=int, default=None, help="shuffle the stream with this seed"
    )
    args = parser.parse_args()
    docs, pairs = load(args.data)
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(docs)
    client = redis.Redis.from_url(args.redis)

    t0 = time.perf_counter()
    for _, text in docs[:2000]:
        fingerprint_text(text)
    print(f"fingerprint_text: {2000 / (time.perf_counter() - t0):.0f} texts/s")

    verdicts, _ = sequential(client, docs)
    quality(pairs, verdicts)
    seq_new = sum(not v.is_duplicate for v in verdicts.values())
    stories = len({doc.split("#")[0] for doc, _ in docs})
    print(
        f"sequential (file order): {seq_new} accepted as new"
        f" ({seq_new - stories} beyond {stories} stories)"
    )
    if args.workers > 1:
        par, replay = concurrent(args.redis, docs, args.workers)
        par_new = sum(not v.is_duplicate for v in par.values())
        replay_new = sum(not v.is_duplicate for v in replay.values())
        differing = sum(par[doc] != replay[doc] for doc in par)
        print(
            f"{args.workers} processes: {par_new} accepted as new ({par_new - stories} beyond"
            f" {stories} stories); the same stream in the order the index committed it, run"
            f" sequentially: {replay_new} new; verdicts differing: {differing}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
