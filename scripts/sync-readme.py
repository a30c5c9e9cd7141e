"""Regenerate what is generated from the code: README.md's CLI reference and settings table,
and config/settings.example.env. `--check` only says whether they are current (exit 1 if not)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from workers.cli import commands_markdown
from workers.settings import settings_example_env, settings_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SETTINGS_EXAMPLE = ROOT / "config" / "settings.example.env"
SECTIONS = {"cli": commands_markdown, "settings": settings_markdown}


def render(text: str) -> str:
    for name, generate in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, g=generate: f"{m.group(1)}{g()}\n{m.group(2)}", text)
    return text


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    example = settings_example_env()
    if "--check" in sys.argv:
        fresh = updated == current and SETTINGS_EXAMPLE.read_text(encoding="utf-8") == example
        sys.exit(0 if fresh else 1)
    README.write_text(updated, encoding="utf-8")
    SETTINGS_EXAMPLE.write_text(example, encoding="utf-8")
