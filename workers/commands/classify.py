"""The `classify` and `train` subcommands of the classify stage.

`newsflow classify FILE.jsonl` prints one JSON line per input line ({"doc_id", "title", "text"} in,
{"doc_id", "label", "confidence", "language", "model_version"} out) using the worker's classifiers.
`newsflow train --data FILE` fits a linear model on labelled rows, prints a held-out evaluation,
writes a versioned `.npz` artifact and, with `--activate`, makes every worker use it.

The classify stage (numpy, scikit-learn, SciPy, the encoder) is imported inside the functions
that run it, so building the command line (`newsflow --help`, `newsflow extract`) never pays
for it.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.commands.progress import on_terminal, progress

if TYPE_CHECKING:
    from workers.models import Classification
    from workers.settings import Settings
    from workers.stages.classify.encoder import FloatArray, MiniLMEncoder

# Articles embedded per step while reading a file: bounds memory, keeps the encoder batched.
_CHUNK = 512
# With a progress bar, texts are encoded in steps so the bar moves: small steps in one process;
# across processes each step pays the pool's start-up (~2 s), so steps are large (~4% slower).
_BAR_STEP = 64
_BAR_PARALLEL_STEP = 10_000


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "classify",
        help="classify articles from a JSON-lines file (topic, confidence, language)",
        description="Read JSON lines with doc_id, title and text (and language, if already "
        "known: it is then reported as given); print one JSON line per article "
        'with "doc_id", "label", "confidence", "language" and "model_version". Without --model '
        "the zero-shot classifier of the taxonomy is used, first self-trained on the file's own "
        "texts (see --no-adapt).",
    )
    p.add_argument("file", help="JSON-lines input (.jsonl or .jsonl.gz; '-' for stdin)")
    p.add_argument("--taxonomy", help="taxonomy YAML (default: NEWSFLOW_TAXONOMY or bundled)")
    p.add_argument("--model", help="trained model artifact (.npz) from `newsflow train`")
    p.add_argument(
        "--no-adapt",
        action="store_true",
        help="zero-shot only: do not self-train on the input's texts first",
    )
    p.set_defaults(func=run_classify, plain_logs=True)

    t = subparsers.add_parser(
        "train",
        help="train a topic model on labelled rows, evaluate it, save (and activate) it",
        description="Fit logistic regression on word TF-IDF (+ MiniLM embeddings) from rows with "
        "label, title and text (JSON lines or CSV). Prints accuracy, macro-F1 and the confusion "
        "matrix on a held-out split, then fits on all rows and writes a versioned .npz artifact.",
    )
    t.add_argument("--data", required=True, help="labelled rows: .jsonl, .jsonl.gz or .csv")
    t.add_argument("--out", help="artifact path (default: models/classifier-<version>.npz)")
    t.add_argument(
        "--features",
        choices=["words", "words+embedding"],
        default="words+embedding",
        help="words: thousands of articles/s, no encoder when classifying; words+embedding: "
        "~1-2 points more accurate at the MiniLM encoder's speed (default). With --self-train, "
        "words distils a fast words-only model from the embedding-based pseudo-labels",
    )
    t.add_argument(
        "--holdout", type=float, default=0.2, help="share of rows held out for evaluation"
    )
    t.add_argument("--seed", type=int, default=13, help="seed of the held-out split")
    t.add_argument(
        "--self-train",
        action="store_true",
        help="ignore labels for training: pseudo-label the rows with the zero-shot classifier "
        "of --taxonomy (rows that do carry labels are used for the evaluation only)",
    )
    t.add_argument("--taxonomy", help="taxonomy YAML for --self-train")
    t.add_argument(
        "--activate",
        action="store_true",
        help="publish the artifact to Redis and make it the model every worker uses",
    )
    t.set_defaults(func=run_train, plain_logs=True)


# --- input ---------------------------------------------------------------------------------


def read_rows(path: str) -> Iterator[dict[str, Any]]:
    """Rows of a .jsonl(.gz) or .csv file (or JSON lines on stdin for '-')."""
    if path == "-":
        yield from _json_lines(sys.stdin)
        return
    file = Path(path)
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8", newline="") as fh:
        assert isinstance(fh, io.TextIOBase)
        if file.name.removesuffix(".gz").endswith(".csv"):
            yield from csv.DictReader(fh)
        else:
            yield from _json_lines(fh)


def _json_lines(fh: io.TextIOBase | Any) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(fh, 1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"line {n}: expected a JSON object")
            yield row


def _item(row: dict[str, Any]) -> tuple[str, str]:
    return str(row.get("title") or ""), str(row.get("text") or "")


def _language(row: dict[str, Any]) -> str | None:
    """A row's own "language" (e.g. the clean stage's), if it has one: not detected again."""
    value = row.get("language")
    return str(value) if value else None


# --- classify ------------------------------------------------------------------------------


def classify_items(
    items: list[tuple[str, str]],
    settings: Settings,
    *,
    taxonomy: str | None = None,
    model: str | None = None,
    adapt: bool = True,
    languages: list[str | None] | None = None,
) -> list[Classification]:
    """What `newsflow classify` does with a batch of (title, text): the worker's classifiers.

    With `model`, the trained artifact. Otherwise the taxonomy's zero-shot classifier; with
    `adapt` and at least MIN_TEXTS items it is first self-trained on the items' own texts (the
    same `self_train` that `newsflow train --self-train` runs for workers). `languages` are
    the items' known languages (None where unknown), reported instead of detecting them.
    """
    from workers.stages.classify.artifact import read_model
    from workers.stages.classify.decision import decide
    from workers.stages.classify.encoder import shared_encoder
    from workers.stages.classify.features import doc_text
    from workers.stages.classify.linear import LinearClassifier
    from workers.stages.classify.provider import build_classifier
    from workers.stages.classify.selftrain import MIN_TEXTS, self_train
    from workers.stages.classify.taxonomy import load_taxonomy
    from workers.stages.classify.zeroshot import ZeroShotClassifier
    from workers.stages.language import known_language

    if model:
        linear = build_classifier(read_model(model), settings.uncertain_threshold)
        results: list[Classification] = []
        with progress("classify", total=len(items), unit="doc") as bar:
            for start in range(0, len(items), _CHUNK):
                chunk_languages = languages[start : start + _CHUNK] if languages else None
                chunk = items[start : start + _CHUNK]
                results += linear.classify_many(chunk, languages=chunk_languages)
                bar.advance(len(chunk))
        return results
    zero = ZeroShotClassifier(
        load_taxonomy(taxonomy or settings.taxonomy_path or None),
        shared_encoder(),
        settings.uncertain_threshold,
    )
    texts = [doc_text(t, x) for t, x in items]
    embeddings = encode_with_progress(zero.encoder, texts, "classify: encode")
    adapted = self_train(zero, texts, embeddings) if adapt and len(texts) >= MIN_TEXTS else None
    if adapted is None:
        return [
            decide(
                zero.taxonomy.names,
                p,
                threshold=zero.threshold,
                language=lang,
                model_version=zero.version,
            )
            for lang, p in zip(
                known_language(texts, languages), zero.probabilities(embeddings), strict=True
            )
        ]
    return LinearClassifier(adapted, settings.uncertain_threshold, zero.encoder).classify_many(
        items, embeddings, languages
    )


def run_classify(args: argparse.Namespace, settings: Settings) -> int:
    rows = list(read_rows(args.file))
    results = classify_items(
        [_item(r) for r in rows],
        settings,
        taxonomy=args.taxonomy,
        model=args.model,
        adapt=not args.no_adapt,
        languages=[_language(r) for r in rows],
    )
    for row, c in zip(rows, results, strict=True):
        record = {
            "doc_id": row.get("doc_id"),
            "label": c.label,
            "confidence": c.confidence,
            "language": c.language,
            "model_version": c.model_version,
        }
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


def encode_with_progress(
    encoder: MiniLMEncoder, texts: Sequence[str], description: str
) -> FloatArray:
    """`encode_texts(encoder, texts)`, in steps that advance a bar when on a terminal.

    The encoder embeds each text on its own (see workers/stages/classify/encoder.py), so
    encoding in steps gives the same embeddings as one call.
    """
    import numpy as np

    from workers.stages.classify.parallel import PARALLEL_MIN_TEXTS, encode_texts

    if not on_terminal() or not texts:
        return encode_texts(encoder, texts)
    step = _BAR_PARALLEL_STEP if len(texts) >= PARALLEL_MIN_TEXTS else _BAR_STEP
    parts: list[FloatArray] = []
    with progress(description, total=len(texts), unit="text") as bar:
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            parts.append(encode_texts(encoder, chunk))
            bar.advance(len(chunk))
    return np.concatenate(parts)


# --- train ---------------------------------------------------------------------------------


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from workers.stages.classify.artifact import save_model
    from workers.stages.classify.encoder import shared_encoder
    from workers.stages.classify.evaluation import evaluate
    from workers.stages.classify.features import doc_text
    from workers.stages.classify.linear import LinearClassifier, fit_linear
    from workers.stages.classify.selftrain import MIN_TEXTS, self_train
    from workers.stages.classify.taxonomy import load_taxonomy
    from workers.stages.classify.zeroshot import ZeroShotClassifier

    rows = list(read_rows(args.data))
    texts = [doc_text(*_item(r)) for r in rows]
    gold = [str(r.get("label") or "").strip() for r in rows]
    if not args.self_train and (not all(gold) or len(set(gold)) < 2):
        print("every row needs a label, and at least two labels must occur", file=sys.stderr)
        return 2
    started = time.monotonic()
    encoder = shared_encoder() if args.self_train or args.features == "words+embedding" else None
    embeddings = (
        encode_with_progress(encoder, texts, "train: encode") if encoder is not None else None
    )

    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    n_test = int(len(order) * args.holdout)
    test, train = sorted(order[:n_test]), sorted(order[n_test:])

    def fit(idx: list[int]) -> Any:
        emb = embeddings[idx] if embeddings is not None else None
        sub = [texts[i] for i in idx]
        if args.self_train:
            assert encoder is not None
            assert emb is not None
            taxonomy = load_taxonomy(args.taxonomy or settings.taxonomy_path or None)
            zero = ZeroShotClassifier(taxonomy, encoder, settings.uncertain_threshold)
            return self_train(zero, sub, emb, features=args.features)
        return fit_linear(
            sub, [gold[i] for i in idx], embeddings=emb, meta={"source": str(args.data)}
        )

    labelled_test = [i for i in test if gold[i]]
    if labelled_test:
        model = fit(train)
        if model is None:
            print(f"--self-train needs at least {MIN_TEXTS} rows", file=sys.stderr)
            return 2
        clf = LinearClassifier(model, settings.uncertain_threshold, encoder)
        emb = embeddings[labelled_test] if embeddings is not None else None
        probs = clf.probabilities([texts[i] for i in labelled_test], emb)
        predicted = [model.labels[int(p.argmax())] for p in probs]
        print(evaluate([gold[i] for i in labelled_test], predicted).report())
    model = fit(order)
    if model is None:
        print(f"--self-train needs at least {MIN_TEXTS} rows", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("models") / f"classifier-{model.version}.npz"
    save_model(model, out)
    print(f"model {model.version} ({model.features}, {len(model.labels)} labels) -> {out}")
    print(f"trained in {time.monotonic() - started:.1f}s")
    if args.activate:
        import redis

        from workers.adapters.model_registry import ModelRegistry
        from workers.settings import redacted

        registry = ModelRegistry(redis.Redis.from_url(settings.redis_url), settings.key_prefix)
        registry.publish(model.version, out.read_bytes())
        registry.activate(model.version)
        print(
            f"activated {model.version} in {redacted(settings.redis_url)} ({registry.active_key})"
        )
    return 0
