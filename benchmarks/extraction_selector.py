"""A page-level selector between the clean stage's text and trafilatura's, cross-validated by site.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/extraction_selector.py [--data DIR] [--folds 5]

The question (issue 12): on pages where the block classifier's answer looks doubtful, would a
second extraction by trafilatura, with a small learned model choosing per page, raise F1 on
sites the models never saw, and what would the second pass cost?

1. The block classifier is cross-validated by site exactly as `extraction_train.py --cv` does
   (same folds, same whole extraction path): each page gets an out-of-fold text.
2. The alternative is the stage's own trafilatura path (`body.trafilatura_paragraphs`: furniture
   pruned, fast cascade first) through the same paragraph filter, timed page by page.
3. Page features: cheap ones known before trafilatura runs (kept words, page words, kept share,
   the share of words in blocks with probability 0.2-0.7, the mean probability of the kept
   words, the best container's share, the share of kept words inside it, kept blocks), and
   after it (trafilatura's words, the log ratio, the 4-gram overlap each way).
4. The selector is a logistic regression saying "trafilatura's page F1 is higher"; for fold k it
   is trained only on the other folds' pages (their out-of-fold texts), so no page is chosen by
   a model that saw its site's labels. A gate (the same kind of model on the cheap features
   only, its cut set on the training folds) decides which pages pay for trafilatura at all.

Prints F1 / precision / recall for: our text, trafilatura's, the per-page oracle, the selector
run on every page, and gated selectors that run trafilatura on ~5/10/20% of the pages, with
how many pages ran trafilatura and how many switched, and the milliseconds the second pass adds
per page on average beside what `clean_page` costs per page in the same process.

Data: WCXB, the Web Content eXtraction Benchmark by Murrough Foley, CC-BY-4.0
(https://creativecommons.org/licenses/by/4.0/), in ../shared/data/extraction-dev.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.extraction import DEFAULT_DATA, aggregate, newsflow_extract, page_scores, shingles
from benchmarks.extraction_train import WORD, Page, ensemble, fit, load_pages
from workers.stages.clean.block_features import FEATURE_NAMES
from workers.stages.clean.body import STORY_THRESHOLD
from workers.stages.clean.boilerplate import filter_paragraphs

_BEST_SHARE = FEATURE_NAMES.index("best_container_share")
_IN_BEST = FEATURE_NAMES.index("in_best_container")
# Blocks whose probability is in this band are the ones the classifier is unsure of.
UNSURE = (0.2, 0.7)
GATE_SHARES = (0.05, 0.1, 0.2)


def words(text: str) -> int:
    return len(WORD.findall(text))


def page_f1(truth: str, text: str) -> float:
    precision, recall, _ = page_scores(truth, text)
    p, r = precision or 0.0, recall or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def cheap_features(page: Page, probabilities: np.ndarray, text: str) -> list[float]:
    """What is known about a page before trafilatura runs on it."""
    rows = np.asarray(page.inputs.rows)
    if not len(probabilities):
        return [math.log1p(words(text)), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    block_words = np.asarray([words(block.text) for block in page.inputs.blocks], dtype=float)
    total = block_words.sum() or 1.0
    kept = probabilities >= STORY_THRESHOLD
    kept_words = block_words[kept].sum()
    unsure = (probabilities >= UNSURE[0]) & (probabilities < UNSURE[1])
    return [
        math.log1p(words(text)),
        math.log1p(total),
        kept_words / total,
        block_words[unsure].sum() / total,
        float((probabilities[kept] * block_words[kept]).sum() / (kept_words or 1.0)),
        float(rows[0, _BEST_SHARE]),
        float(block_words[kept & (rows[:, _IN_BEST] > 0)].sum() / (kept_words or 1.0)),
        math.log1p(int(kept.sum())),
    ]


def pair_features(ours: str, theirs: str) -> list[float]:
    """How trafilatura's text compares with ours: its size and the 4-gram overlap each way."""
    a, b = shingles(ours), shingles(theirs)
    shared = sum((a & b).values())
    return [
        math.log1p(words(theirs)),
        math.log1p(words(theirs)) - math.log1p(words(ours)),
        shared / (sum(a.values()) or 1),
        shared / (sum(b.values()) or 1),
    ]


def selector() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def report(name: str, pages: list[Page], texts: list[str], extra: str = "") -> None:
    m = aggregate([page_scores(p.truth, t) for p, t in zip(pages, texts, strict=True)])
    print(f"{name:<36} F1 {m['f1']:.4f}  P {m['precision']:.4f}  R {m['recall']:.4f}  {extra}")


def main() -> int:
    from sklearn.model_selection import GroupKFold

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=0, help="first N pages only (0: all)")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    pages = load_pages(args.data, args.limit)
    n = len(pages)
    fold = np.zeros(n, dtype=int)
    probabilities: list[np.ndarray] = [np.zeros(0)] * n
    splits = GroupKFold(n_splits=args.folds).split(pages, groups=[p.site for p in pages])
    for k, (train, test) in enumerate(splits):
        trees = ensemble(fit([pages[i] for i in train]))
        for i in test:
            fold[i] = k
            rows = pages[i].inputs.rows
            probabilities[i] = np.asarray(trees.probabilities(rows) if len(rows) else [])
        print(f"  fold {k + 1}/{args.folds}", file=sys.stderr)
    ours = [p.text(list(pr)) for p, pr in zip(pages, probabilities, strict=True)]
    theirs: list[str] = []
    second_pass_ms: list[float] = []
    clean_ms: list[float] = []
    for page in pages:
        started = time.perf_counter()
        paragraphs = page.extracted()
        second_pass_ms.append(1000 * (time.perf_counter() - started))
        theirs.append("\n".join(filter_paragraphs(paragraphs, page.meta.title, page.meta.authors)))
        started = time.perf_counter()
        newsflow_extract(page._html, page._url)
        clean_ms.append(1000 * (time.perf_counter() - started))
    cheap = np.asarray(
        [cheap_features(p, pr, t) for p, pr, t in zip(pages, probabilities, ours, strict=True)]
    )
    full = np.hstack(
        [cheap, np.asarray([pair_features(a, b) for a, b in zip(ours, theirs, strict=True)])]
    )
    gain = np.asarray(
        [
            page_f1(p.truth, b) - page_f1(p.truth, a)
            for p, a, b in zip(pages, ours, theirs, strict=True)
        ]
    )
    print(f"{n} pages, {args.folds}-fold cross-validation grouped by site")
    report("newsflow (held-out folds)", pages, ours)
    report("trafilatura, pruned tree, filtered", pages, theirs)
    report(
        "oracle: the better of the two",
        pages,
        [b if g > 0 else a for a, b, g in zip(ours, theirs, gain, strict=True)],
    )
    cost = float(np.mean(second_pass_ms))
    print(
        f"clean_page {np.mean(clean_ms):.1f} ms/page; trafilatura's pass {cost:.1f} ms on a page"
        " that runs it"
    )
    for share in (1.0, *GATE_SHARES):
        ran = np.zeros(n, dtype=bool)
        switch = np.zeros(n, dtype=bool)
        for k in range(args.folds):
            train, test = fold != k, fold == k
            if share < 1.0:
                gate = selector().fit(cheap[train], gain[train] > 0)
                cut = np.quantile(gate.predict_proba(cheap[train])[:, 1], 1 - share)
                gated_train = gate.predict_proba(cheap[train])[:, 1] > cut
                ran[test] = gate.predict_proba(cheap[test])[:, 1] > cut
            else:
                gated_train = np.ones(int(train.sum()), dtype=bool)
                ran[test] = True
            wins = gain[train][gated_train] > 0
            if wins.all() or not wins.any():  # one class only (tiny --limit runs): no model
                switch[test] = ran[test] & bool(wins.all())
                continue
            chooser = selector().fit(full[train][gated_train], wins)
            switch[test] = ran[test] & (chooser.predict_proba(full[test])[:, 1] > 0.5)
        added = cost * ran.mean()
        report(
            f"selector, trafilatura on {share:.0%}",
            pages,
            [b if s else a for a, b, s in zip(ours, theirs, switch, strict=True)],
            f"ran {int(ran.sum())}, switched {int(switch.sum())}, +{added:.1f} ms/page",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
