"""The language detector's tuning (workers/stages/language.py) measured on the development data.

Sets: classify-dev AG News (headline + lead, what `newsflow classify` reads) and BBC (whole
stories), the extraction-dev article bodies (what the clean stage reads) and the first 150
characters of each BBC story (a feed summary). All are English, so an answer other than "en" is
wrong, with the few exceptions printed under each table (AG News carries two French wire items).

For each set: how sure py3langid is of its answer by probability band and whether the answer was
"en" (the evidence for MIN_PROBABILITY and OVERRULE_PROBABILITY), what `detect_languages`
answers with no declaration and with a wrong one ("de"), how many texts a 20-word minimum would
leave undetected (the old clean-stage rule), and the speed per text and batched.
Reads ../shared/data (override with --data); says so and exits 2 when it is missing.

    .venv/bin/python benchmarks/language.py [--data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workers.stages import language  # noqa: E402
from workers.stages.language import detect_language, detect_languages  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
BANDS = ((0.0, "p < 0.5"), (0.5, "0.5 <= p < 0.8"), (0.8, "p >= 0.8"))


def load_sets(data: Path, limit: int | None) -> dict[str, list[str]]:
    def rows(name: str) -> list[dict[str, str]]:
        with gzip.open(data / "classify-dev" / name, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh][:limit]

    ag = [f"{r['title'].strip()}. {r['text'].strip()}" for r in rows("ag_news_train_10k.jsonl.gz")]
    bbc = [f"{r['title'].strip()}. {r['text'].strip()}" for r in rows("bbc.jsonl.gz")]
    truth = json.loads((data / "extraction-dev" / "ground-truth.json").read_text("utf-8"))
    bodies = [page["articleBody"] for page in truth.values() if page["articleBody"]][:limit]
    return {
        "AG News": ag,
        "BBC": bbc,
        "extraction-dev bodies": bodies,
        "BBC, first 150 chars": [text[:150] for text in bbc],
    }


def band(probability: float) -> str:
    return [name for low, name in BANDS if probability >= low][-1]


def measure(name: str, texts: list[str]) -> None:
    samples = [t[: language.SAMPLE_CHARS] for t in texts]
    readable = [s for s in samples if sum(ch.isalpha() for ch in s) >= language.MIN_LETTERS]
    guesses = language._guess(readable)
    by_band = Counter((band(p), code == "en") for code, p in guesses)
    not_en = Counter(f"{code} {p:.2f}" for code, p in guesses if code != "en" and p >= 0.5)

    started = time.perf_counter()
    batched = detect_languages(texts)
    batch_s = time.perf_counter() - started
    started = time.perf_counter()
    one_by_one = [detect_language(t) for t in texts]
    single_s = time.perf_counter() - started
    assert batched == one_by_one, "batched and per-text answers differ"
    overruled = detect_languages(texts, ["de"] * len(texts))
    few_words = sum(len(s.split()) < 20 for s in samples)

    print(f"\n### {name} ({len(texts)} texts)\n")
    print("| py3langid's answer | right (en) | wrong |\n|---|---|---|")
    for _low, label in BANDS:
        print(f"| {label} | {by_band[(label, True)]} | {by_band[(label, False)]} |")
    print(f"| under {language.MIN_LETTERS} letters (not asked) | {len(texts) - len(readable)} | |")
    answers = Counter("none" if a is None else "en" if a == "en" else "other" for a in batched)
    kept_wrong = sum(a == "de" for a in overruled)
    print(
        f"\ndetect_languages: en {answers['en']}, other {answers['other']}, none "
        f"{answers['none']}; declared 'de' kept on {kept_wrong} (overruled on the rest); "
        f"a 20-word minimum would leave {few_words} undetected"
    )
    print(
        f"speed: {len(texts) / single_s:,.0f} texts/s one at a time, "
        f"{len(texts) / batch_s:,.0f} texts/s batched"
    )
    if not_en:
        print(f"non-en answers at p >= 0.5: {dict(not_en.most_common(10))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="texts per set (default: all)")
    args = parser.parse_args()
    if not (args.data / "classify-dev").is_dir() or not (args.data / "extraction-dev").is_dir():
        print(f"development data not found under {args.data} (see --data)", file=sys.stderr)
        return 2
    detect_languages(["warm-up: load the model before timing anything"] * 20)
    for name, texts in load_sets(args.data, args.limit).items():
        measure(name, texts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
