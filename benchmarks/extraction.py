"""Main-text extraction quality and speed: newsflow's clean_page beside plain trafilatura.

Scores any folder laid out like WCXB's extraction-dev (`html/ID.html[.gz]` + `ground-truth.json`
mapping ID -> {"articleBody": text}) with the ScrapingHub article-extraction-benchmark metric, the
same as `../shared/tools/extraction_score.py` (re-implemented here identically so the benchmark
runs without that folder): word 4-gram multisets per page, precision averaged over non-empty
predictions, recall over all pages, F1 the harmonic mean of the two means.

    .venv/bin/python benchmarks/extraction.py [--data DIR] [--limit N] [--pred-dir DIR]
    .venv/bin/python benchmarks/extraction.py --speed [DIR_OR_FILE ...] [--rounds N]

Default data: ../shared/data/extraction-dev next to the repository (development data, not shipped).
Both extractors run in this process on the same decoded pages; pages/s counts extraction only.

`--speed` needs no ground truth: it times newsflow's clean_page and plain `trafilatura.extract`
(defaults, as installed) on every `*.html`/`*.html.gz` under the given folders (default:
tests/pages/html and the demo site), in alternating rounds over the same pages in the same
process, and reports the median pages/s of each (min-max beside it) and their ratio. Alternating
rounds keep a load spike on a shared machine from landing on one extractor only. A third row,
`trafilatura+fix`, is trafilatura with the justext-stoplist fix newsflow applies (see
`workers.stages.clean.trafilatura_text`), so the fix's share of the difference is visible.

`--metadata` scores title, author and publish date against the ground truth's `title`,
`author` and `publish_date` (null where the page has none), for newsflow's clean_page beside
trafilatura's own metadata (`bare_extraction(with_metadata=True)`). A field is right when the
normalised values are equal (case, punctuation and spacing ignored; authors as a set of names;
dates by day) or when both are empty; accuracy is reported over all pages and over the pages
whose truth has the field.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura
import trafilatura.external

from workers.errors import SkipArticle
from workers.stages.clean import body, clean_page, trafilatura_text
from workers.stages.clean.html import parse_html
from workers.stages.clean.metadata import extract_metadata

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "extraction-dev"
DEFAULT_SPEED_PAGES = (ROOT / "tests" / "pages" / "html", ROOT / "workers" / "demo" / "site")
WORD = re.compile(r"\w+")
N = 4


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = WORD.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < N:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + N]) for i in range(len(tokens) - N + 1))


def page_scores(truth: str, pred: str) -> tuple[float | None, float | None, bool]:
    """(precision or None, recall or None, exact token match) for one page."""
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    n_pred, n_true = sum(p.values()), sum(t.values())
    precision = tp / n_pred if n_pred else None
    recall = tp / n_true if n_true else None
    return precision, recall, WORD.findall(truth or "") == WORD.findall(pred or "")


def aggregate(rows: list[tuple[float | None, float | None, bool]]) -> dict[str, float]:
    precisions = [r[0] for r in rows if r[0] is not None]
    recalls = [r[1] for r in rows if r[1] is not None]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    acc = sum(row[2] for row in rows) / len(rows) if rows else 0.0
    return {"precision": p, "recall": r, "f1": f1, "accuracy": acc}


def read_page(path: Path) -> str | None:
    """The decoded page, or None when the file is not a page (e.g. a dangling pointer file)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif path.suffix == ".gz":
        return None
    text = data.decode("utf-8", "replace")
    return text if "<" in text[:10_000] else None


def newsflow_extract(html: str, url: str | None) -> str:
    try:
        return clean_page(html, url).text
    except SkipArticle:
        return ""


def extraction_paths(htmls: list[str]) -> Counter[str]:
    """Which trafilatura cascade newsflow ran per page (an untimed pass): none (the block
    classifier's text was kept), the fast one only, the full one only, or both (the fast answer
    failed the could-the-fallbacks-change-it test)."""
    runs: list[bool] = []
    real = trafilatura_text._bare_extraction

    def counting(tree: Any, url: str | None, *, fast: bool) -> Any:
        runs.append(fast)
        return real(tree, url, fast=fast)

    paths: Counter[str] = Counter()
    trafilatura_text._bare_extraction = counting  # a measurement-only spy, removed below
    try:
        for html in htmls:
            runs.clear()
            newsflow_extract(html, None)
            kinds = {(True,): "fast", (False,): "full", (True, False): "both"}
            paths[kinds.get(tuple(runs), "none")] += 1
    finally:
        trafilatura_text._bare_extraction = real
    return paths


def print_paths(htmls: list[str]) -> None:
    paths = extraction_paths(htmls)
    print(
        f"newsflow trafilatura cascade per page: {paths['fast']} fast only, "
        f"{paths['full']} full only, {paths['both']} both (fast answer not provably final), "
        f"{paths['none']} none (the classifier's text kept, or not HTML)"
    )


@functools.cache
def _shipped_stoplist() -> tuple[str, ...]:
    external: Any = trafilatura.external
    return tuple(external.JT_STOPLIST or external.jt_stoplist_init())


def trafilatura_extract(html: str, url: str | None) -> str:
    """Plain `trafilatura.extract` with its defaults, exactly as installed.

    newsflow makes trafilatura's justext stoplist keep its hash, process-wide (see
    `workers.stages.clean.trafilatura_text._cache_justext_stoplist_hash`); the shipped plain
    tuple is put back for the duration of this call so the baseline is not sped up by our fix.
    """
    external: Any = trafilatura.external
    current = external.JT_STOPLIST
    external.JT_STOPLIST = _shipped_stoplist()
    try:
        return trafilatura.extract(html) or ""
    finally:
        external.JT_STOPLIST = current


def trafilatura_stoplist_fixed_extract(html: str, url: str | None) -> str:
    """`trafilatura.extract` with newsflow's stoplist-hash fix: what the fix alone is worth."""
    trafilatura_text._cache_justext_stoplist_hash()
    return trafilatura.extract(html) or ""


def _fast_cascade_only(tree: Any, url: str | None) -> list[str]:
    """trafilatura's fast cascade alone: newsflow without the second (full-cascade) pass."""
    trafilatura_text._cache_justext_stoplist_hash()
    document = trafilatura_text._bare_extraction(tree, url, fast=True)
    text = getattr(document, "text", None) if document is not None else None
    return [line for line in text.split("\n") if line.strip()] if isinstance(text, str) else []


def newsflow_one_pass_extract(html: str, url: str | None) -> str:
    """newsflow with the cascade's second pass switched off (to show what that pass buys)."""
    real = body.extract_with_trafilatura
    body.extract_with_trafilatura = _fast_cascade_only  # measurement-only swap, undone below
    try:
        return newsflow_extract(html, url)
    finally:
        body.extract_with_trafilatura = real


EXTRACTORS: dict[str, Callable[[str, str | None], str]] = {
    "newsflow": newsflow_extract,
    "trafilatura": trafilatura_extract,
}
# With --one-pass: the same newsflow without the cascade's second pass, beside the others.
ONE_PASS = {"newsflow-1pass": newsflow_one_pass_extract}
# Speed only: the same trafilatura with the stoplist fix, to show what that fix alone is worth.
SPEED_EXTRACTORS = {**EXTRACTORS, "trafilatura+fix": trafilatura_stoplist_fixed_extract}


def speed_pages(paths: list[Path]) -> dict[str, str]:
    """Every readable HTML page under `paths` (folders searched recursively), keyed by path."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.html")) + sorted(path.rglob("*.html.gz")))
        else:
            files.append(path)
    pages: dict[str, str] = {}
    for file in files:
        html = read_page(file)
        if html is not None:
            pages[str(file)] = html
    return pages


def run_speed(paths: list[Path], rounds: int) -> int:
    """Median pages/s of both extractors over the same pages, in alternating rounds."""
    pages = speed_pages(paths)
    if not pages:
        print(f"no HTML pages under {', '.join(map(str, paths))}", file=sys.stderr)
        return 2
    htmls = list(pages.values())
    for fn in SPEED_EXTRACTORS.values():  # warm-up: model loads, lazy imports, first-call caches
        for html in htmls:
            fn(html, None)
    times: dict[str, list[float]] = {name: [] for name in SPEED_EXTRACTORS}
    for round_no in range(rounds):
        # Alternate the order, so no extractor always runs right after the same other one.
        order = list(SPEED_EXTRACTORS.items())
        for name, fn in order if round_no % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            for html in htmls:
                fn(html, None)
            times[name].append(time.perf_counter() - start)
    size_kb = sum(len(h.encode("utf-8")) for h in htmls) / 1024
    print(f"{len(htmls)} pages ({size_kb:.0f} kB) x {rounds} rounds, same process, alternating")
    print(f"{'extractor':<16} {'median pages/s':>15} {'min-max':>14} {'ms/page':>8}")
    rates: dict[str, float] = {}
    for name, elapsed in times.items():
        per_round = [len(htmls) / t for t in elapsed]
        rates[name] = statistics.median(per_round)
        print(
            f"{name:<16} {rates[name]:15.1f} {min(per_round):6.1f}-{max(per_round):<7.1f}"
            f" {1000 / rates[name]:8.2f}"
        )
    print(
        f"newsflow / trafilatura speed: {rates['newsflow'] / rates['trafilatura']:.2f}x "
        f"(vs trafilatura+fix: {rates['newsflow'] / rates['trafilatura+fix']:.2f}x)"
    )
    print_paths(htmls)
    return 0


_NAME_SPLIT = re.compile(r"\s*(?:[,;&|/]|\band\b)\s*", re.IGNORECASE)


def _norm(text: str | None) -> str:
    return " ".join(WORD.findall((text or "").casefold()))


def _names(value: str | None) -> frozenset[str]:
    return frozenset(n for n in (_norm(part) for part in _NAME_SPLIT.split(value or "")) if n)


def metadata_right(field: str, truth: str | None, predicted: str | None) -> bool:
    """Whether one predicted metadata field matches the truth (see --metadata)."""
    if field == "author":
        return _names(truth) == _names(predicted)
    if field == "publish_date":
        return (truth or "")[:10] == (predicted or "")[:10]
    return _norm(truth) == _norm(predicted)


def newsflow_metadata(html: str, url: str | None) -> dict[str, str | None]:
    """The clean stage's metadata step alone (clean_page reports the same fields, but only for
    pages it does not skip)."""
    tree = parse_html(html)
    if tree is None:
        return {"title": None, "author": None, "publish_date": None}
    meta = extract_metadata(tree, url)
    return {
        "title": meta.title,
        "author": ", ".join(meta.authors) or None,
        "publish_date": meta.published_at,
    }


def trafilatura_metadata(html: str, url: str | None) -> dict[str, str | None]:
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None:
        return {"title": None, "author": None, "publish_date": None}
    return {
        "title": document.title,
        "author": document.author,
        "publish_date": document.date,
    }


METADATA_FIELDS = ("title", "author", "publish_date")


def run_metadata(pages: dict[str, str], truth: dict[str, Any]) -> int:
    extractors = {"newsflow": newsflow_metadata, "trafilatura": trafilatura_metadata}
    print(f"metadata on {len(pages)} pages: right / all pages (right / pages whose truth has it)")
    print(f"{'extractor':<12} " + " ".join(f"{f:>22}" for f in METADATA_FIELDS))
    for name, fn in extractors.items():
        right = dict.fromkeys(METADATA_FIELDS, 0)
        right_present = dict.fromkeys(METADATA_FIELDS, 0)
        present = dict.fromkeys(METADATA_FIELDS, 0)
        for page_id, html in pages.items():
            predicted = fn(html, truth[page_id].get("url"))
            for field in METADATA_FIELDS:
                ok = metadata_right(field, truth[page_id].get(field), predicted.get(field))
                right[field] += ok
                if truth[page_id].get(field):
                    present[field] += 1
                    right_present[field] += ok
        cells = [
            f"{right[f] / len(pages):.3f} ({right_present[f] / max(1, present[f]):.3f})"
            for f in METADATA_FIELDS
        ]
        print(f"{name:<12} " + " ".join(f"{c:>22}" for c in cells))
    print("pages whose truth has the field: " + ", ".join(f"{f} {present[f]}" for f in present))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with html/ and ground-truth.json"
    )
    ap.add_argument("--limit", type=int, default=0, help="score only the first N pages (0: all)")
    ap.add_argument(
        "--pred-dir", type=Path, default=None, help="write each extractor's predictions here"
    )
    ap.add_argument(
        "--speed",
        type=Path,
        nargs="*",
        default=None,
        metavar="DIR_OR_FILE",
        help="speed only, no ground truth: HTML pages under these paths "
        "(default: tests/pages/html and workers/demo/site)",
    )
    ap.add_argument("--rounds", type=int, default=9, help="timed rounds per extractor (--speed)")
    ap.add_argument(
        "--one-pass",
        action="store_true",
        help="also run newsflow without the cascade's second pass (text and --speed)",
    )
    ap.add_argument(
        "--metadata",
        action="store_true",
        help="score title, author and publish date instead of the text",
    )
    args = ap.parse_args()
    if args.one_pass:
        EXTRACTORS.update(ONE_PASS)
        SPEED_EXTRACTORS.update(ONE_PASS)
    if args.speed is not None:
        return run_speed(args.speed or list(DEFAULT_SPEED_PAGES), max(1, args.rounds))

    truth_file = args.data / "ground-truth.json"
    if not truth_file.exists():
        print(
            f"no data: {truth_file} is missing (the dev set lives in ../shared/data, "
            "next to the repository; pass --data DIR)",
            file=sys.stderr,
        )
        return 2
    truth = json.loads(truth_file.read_text(encoding="utf8"))
    ids = sorted(truth)[: args.limit or None]
    pages: dict[str, str] = {}
    unreadable: list[str] = []
    for page_id in ids:
        path = next(
            (
                p
                for p in (
                    args.data / "html" / f"{page_id}.html.gz",
                    args.data / "html" / f"{page_id}.html",
                )
                if p.exists()
            ),
            None,
        )
        html = read_page(path) if path else None
        if html is None:
            unreadable.append(page_id)
        else:
            pages[page_id] = html
    if unreadable:
        print(
            f"warning: {len(unreadable)} of {len(ids)} pages are missing or not HTML "
            f"(e.g. {unreadable[0]}); they are left out of the scores",
            file=sys.stderr,
        )
    if not pages:
        print("no readable pages: nothing to score", file=sys.stderr)
        return 2

    if args.metadata:
        return run_metadata(pages, truth)
    extractors = EXTRACTORS
    # Warm both up (py3langid model load, trafilatura's lazy imports) outside the timed loop.
    first = next(iter(pages.values()))
    for fn in extractors.values():
        fn(first, None)

    print(f"{len(pages)} pages from {args.data}")
    print(f"{'extractor':<12} {'F1':>6} {'prec':>6} {'recall':>6} {'exact':>6} {'pages/s':>8}")
    for name, fn in extractors.items():
        preds: dict[str, str] = {}
        elapsed = 0.0
        for page_id, html in pages.items():
            url = truth[page_id].get("url")
            start = time.perf_counter()
            preds[page_id] = fn(html, url)
            elapsed += time.perf_counter() - start
        rows = [page_scores(truth[k].get("articleBody", ""), preds[k]) for k in pages]
        m = aggregate(rows)
        print(
            f"{name:<12} {m['f1']:6.3f} {m['precision']:6.3f} {m['recall']:6.3f} "
            f"{m['accuracy']:6.3f} {len(pages) / elapsed:8.1f}"
        )
        if args.pred_dir:
            args.pred_dir.mkdir(parents=True, exist_ok=True)
            out = {k: {"articleBody": v} for k, v in preds.items()}
            (args.pred_dir / f"{name}.json").write_text(json.dumps(out, ensure_ascii=False))
    print_paths(list(pages.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
