"""Accuracy and speed of the classify stage on the classify-dev sets (AG News 10k, BBC).

For each data set:
- zero-shot: `newsflow classify` without a model (taxonomy from config/examples/, no labels
  used), with self-training on the set's own texts (the default) and without (--no-adapt);
- trained: `newsflow train` fitted on 80% of the rows, evaluated on the other 20%, with
  words-only and words+embedding features; speed is articles/s of classify_many on the 20%.
Reads ../shared/data/classify-dev (override with --data); says so and exits 2 when missing.

    .venv/bin/python benchmarks/classify.py [--data DIR] [--only ag_news|bbc] [--limit N]
    .venv/bin/python benchmarks/classify.py --paths encoder,language --only ag_news --limit 2000

`encoder` times the sentence encoder alone, float32 vs int8 at 64/48/32 word pieces, the variants
interleaved over 3 rounds (median reported) so load from other jobs hits them alike; `language`
times per-text against batched language detection and checks they agree.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workers.commands.classify import classify_items  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.stages.classify.encoder import MiniLMEncoder, shared_encoder  # noqa: E402
from workers.stages.classify.evaluation import evaluate  # noqa: E402
from workers.stages.classify.features import doc_text  # noqa: E402
from workers.stages.classify.linear import LinearClassifier, fit_linear  # noqa: E402
from workers.stages.classify.selftrain import self_train  # noqa: E402
from workers.stages.classify.taxonomy import load_taxonomy  # noqa: E402
from workers.stages.classify.zeroshot import ZeroShotClassifier  # noqa: E402
from workers.stages.language import detect_language, detect_languages  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "classify-dev"
SETS = {
    "ag_news": ("ag_news_train_10k.jsonl.gz", REPO / "config/examples/ag_news_taxonomy.yaml"),
    "bbc": ("bbc.jsonl.gz", REPO / "config/examples/bbc_taxonomy.yaml"),
}


def load(path: Path, limit: int | None) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    random.Random(7).shuffle(rows)
    return rows[:limit] if limit else rows


def line(
    name: str, what: str, acc: float, f1: float, n: int, seconds: float, extra: str = ""
) -> None:
    print(
        f"| {name} | {what} | {acc:.3f} | {f1:.3f} | {n} | {n / seconds:,.0f} | {extra} |",
        flush=True,
    )


def time_encoders(name: str, texts: list[str]) -> None:
    """Encoder-only articles/s of float32 vs int8 at several lengths, same texts, interleaved."""
    variants = {
        f"{'int8' if q else 'float32'} {n} word pieces": MiniLMEncoder(max_tokens=n, quantize=q)
        for q, n in ((False, 64), (True, 64), (True, 48), (True, 32))
    }
    seconds: dict[str, list[float]] = {k: [] for k in variants}
    embeddings = {}
    for _ in range(3):
        for what, encoder in variants.items():
            t0 = time.perf_counter()
            embeddings[what] = encoder.encode(texts)
            seconds[what].append(time.perf_counter() - t0)
    reference = embeddings["float32 64 word pieces"]
    for what, s in seconds.items():
        cos = (embeddings[what] * reference).sum(axis=1)
        print(
            f"| {name} | encoder only, {what} | | | {len(texts)} | "
            f"{len(texts) / statistics.median(s):,.0f} | cosine to float32-64 mean "
            f"{cos.mean():.4f} |",
            flush=True,
        )


def time_language(name: str, texts: list[str]) -> None:
    t0 = time.perf_counter()
    one = [detect_language(t) for t in texts]
    single = time.perf_counter() - t0
    t0 = time.perf_counter()
    many = detect_languages(texts)
    batch = time.perf_counter() - t0
    agree = sum(a == b for a, b in zip(one, many, strict=True))
    for what, dt in (("one at a time", single), ("batched", batch)):
        print(
            f"| {name} | language detection, {what} | | | {len(texts)} | "
            f"{len(texts) / dt:,.0f} | agree {agree}/{len(texts)} |",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--only", choices=sorted(SETS))
    ap.add_argument("--limit", type=int, help="rows per set (default: all)")
    ap.add_argument(
        "--paths",
        default="zeroshot,selftrain,student,words,embedding",
        help="comma-separated subset of: zeroshot (--no-adapt), selftrain (classify's default), "
        "student (self-trained words-only model, scored on rows it never saw), words, embedding, "
        "encoder (encoder variants alone), language (detection alone)",
    )
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"classify-dev data not found at {args.data} (pass --data DIR)", file=sys.stderr)
        return 2
    settings = Settings()
    shared_encoder()  # load the weights once, outside the timings
    print("| set | path | accuracy | macro-F1 | articles | articles/s | notes |")
    print("|---|---|---|---|---|---|---|")
    for name, (file, taxonomy) in SETS.items():
        if args.only and name != args.only:
            continue
        rows = load(args.data / file, args.limit)
        items = [(r["title"], r["text"]) for r in rows]
        gold = [r["label"] for r in rows]
        paths = set(args.paths.split(","))
        cut = int(len(rows) * 0.8)
        texts = [doc_text(t, x) for t, x in items]
        encoder = shared_encoder()
        if "encoder" in paths:
            time_encoders(name, texts)
        if "language" in paths:
            time_language(name, texts)
        for adapt in (False, True):
            if ("selftrain" if adapt else "zeroshot") not in paths:
                continue
            t0 = time.perf_counter()
            results = classify_items(items, settings, taxonomy=str(taxonomy), adapt=adapt)
            dt = time.perf_counter() - t0
            ev = evaluate(gold, [c.label for c in results])
            unsure = sum(c.uncertain for c in results)
            what = "zero-shot + self-training (default)" if adapt else "zero-shot, --no-adapt"
            line(name, what, ev.accuracy, ev.macro_f1, len(rows), dt, f"uncertain {unsure}")
        if "student" in paths:
            # What a worker runs after `newsflow train --self-train --features words --activate`:
            # self-trained on 80% of the rows as unlabelled text, scored on the other 20%.
            t0 = time.perf_counter()
            zero = ZeroShotClassifier(
                load_taxonomy(taxonomy), encoder, settings.uncertain_threshold
            )
            student = self_train(zero, texts[:cut], features="words")
            train_s = time.perf_counter() - t0
            assert student is not None
            clf = LinearClassifier(student, settings.uncertain_threshold)
            t0 = time.perf_counter()
            results = clf.classify_many(items[cut:])
            dt = time.perf_counter() - t0
            ev = evaluate(gold[cut:], [c.label for c in results])
            line(
                name,
                "self-trained words student (no labels)",
                ev.accuracy,
                ev.macro_f1,
                len(rows) - cut,
                dt,
                f"self-train {train_s:.0f}s",
            )
        for features in ("words", "words+embedding"):
            if ("words" if features == "words" else "embedding") not in paths:
                continue
            use_emb = features == "words+embedding"
            t0 = time.perf_counter()
            emb = encoder.encode(texts[:cut]) if use_emb else None
            model = fit_linear(texts[:cut], gold[:cut], embeddings=emb)
            train_s = time.perf_counter() - t0
            clf = LinearClassifier(
                model, settings.uncertain_threshold, encoder if use_emb else None
            )
            t0 = time.perf_counter()
            results = clf.classify_many(items[cut:])
            dt = time.perf_counter() - t0
            ev = evaluate(gold[cut:], [c.label for c in results])
            line(
                name,
                f"trained {features} (80/20)",
                ev.accuracy,
                ev.macro_f1,
                len(rows) - cut,
                dt,
                f"train {train_s:.0f}s, uncertain {sum(c.uncertain for c in results)}",
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
