"""Proof that a speed change to the clean stage changed nothing: clean_page's output, page by page.

Speed work on `workers.stages.clean` must not move a single answer (the shipped block model was
trained on the features as they are). This script records, for every page of a folder laid out
like WCXB's extraction-dev (`html/ID.html[.gz]`, `ground-truth.json` with each page's `url`):

- clean_page's whole result (every CleanedArticle field, or the SkipArticle reason and detail),
  once with the page's URL and once without (the speed benchmark's call);
- a SHA-256 of the block classifier's inputs and outputs: every block's text and feature row
  and its story probability, as exact float bits (`float.hex`), so a change that moves a
  probability in its last bit shows even when no block flips.

    .venv/bin/python benchmarks/clean_identity.py --write /tmp/clean-before.json   # old code
    .venv/bin/python benchmarks/clean_identity.py --check /tmp/clean-before.json   # new code

`--check` exits 1 and lists the pages that differ. Default data: ../shared/data/extraction-dev.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extraction import DEFAULT_DATA, read_page

from workers.errors import SkipArticle
from workers.stages.clean import clean_page
from workers.stages.clean.block_classifier import story_probabilities
from workers.stages.clean.body import main_text_inputs
from workers.stages.clean.html import parse_html
from workers.stages.clean.metadata import extract_metadata


def clean_result(html: str, url: str | None) -> dict[str, Any]:
    """clean_page's answer as JSON-ready data: every field, or the skip reason and detail."""
    try:
        article = clean_page(html, url)
    except SkipArticle as skip:
        return {"skip": skip.reason, "detail": skip.detail}
    return dataclasses.asdict(article)


def classifier_digest(html: str, url: str | None) -> str:
    """SHA-256 of every block's text, feature row and story probability, bit for bit."""
    tree = parse_html(html)
    if tree is None:
        return ""
    inputs = main_text_inputs(tree, extract_metadata(tree, url))
    digest = hashlib.sha256()
    for block, row, p in zip(
        inputs.blocks, inputs.rows, story_probabilities(inputs.rows), strict=True
    ):
        digest.update(block.text.encode("utf-8", "replace"))
        digest.update(" ".join(map(float.hex, row)).encode())
        digest.update(float.hex(p).encode())
    return digest.hexdigest()


def page_record(html: str, url: str | None) -> dict[str, Any]:
    return {
        "with_url": clean_result(html, url),
        "without_url": clean_result(html, None),
        "classifier": classifier_digest(html, url),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="JSON", help="record the current output")
    mode.add_argument("--check", type=Path, metavar="JSON", help="compare with a recording")
    args = ap.parse_args()

    truth = json.loads((args.data / "ground-truth.json").read_text(encoding="utf8"))
    records: dict[str, Any] = {}
    for page_id in sorted(truth):
        path = args.data / "html" / f"{page_id}.html.gz"
        if not path.exists():
            path = args.data / "html" / f"{page_id}.html"
        html = read_page(path) if path.exists() else None
        if html is not None:
            records[page_id] = page_record(html, truth[page_id].get("url"))

    if args.write:
        args.write.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf8")
        print(f"{len(records)} pages recorded in {args.write}")
        return 0
    expected = json.loads(args.check.read_text(encoding="utf8"))
    # Through JSON both ways, so tuples and lists compare alike.
    actual = json.loads(json.dumps(records, ensure_ascii=False))
    differ = sorted(
        page for page in expected.keys() | actual.keys() if expected.get(page) != actual.get(page)
    )
    for page in differ[:20]:
        for part in ("with_url", "without_url", "classifier"):
            if (expected.get(page) or {}).get(part) != (actual.get(page) or {}).get(part):
                print(f"{page}: {part} differs")
    print(f"{len(actual)} pages compared, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
