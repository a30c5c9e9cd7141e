"""Regenerate tests/pages/golden/*.json: clean_page's full output for every fixture page.

    .venv/bin/python tests/pages/regenerate_goldens.py

Run after a deliberate change to the clean stage, then read the diff (`git diff tests/pages/golden`)
before committing: every changed line is a behaviour change the tests will hold from then on.
The hand-written expectations in expectations.json (what must stay, what must go) do not change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PAGES = Path(__file__).resolve().parent
sys.path.insert(0, str(PAGES.parents[1]))

from workers.commands.extract import extract_file  # noqa: E402


def golden_record(path: Path, url: str | None) -> dict[str, object]:
    """What the golden file holds for one page: the extract command's record without the path."""
    record = extract_file(path, url)
    record.pop("file")
    return record


def main() -> None:
    expectations = json.loads((PAGES / "expectations.json").read_text(encoding="utf-8"))
    out_dir = PAGES / "golden"
    out_dir.mkdir(exist_ok=True)
    for path in sorted((PAGES / "html").iterdir()):
        url = expectations.get(path.name, {}).get("url")
        record = golden_record(path, url)
        target = out_dir / f"{path.name}.json"
        target.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {target.relative_to(PAGES)}")


if __name__ == "__main__":
    main()
