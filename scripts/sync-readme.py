"""Regenerate the generated sections of README.md (CLI reference and settings table)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from workers.cli import commands_markdown
from workers.settings import settings_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = {"cli": commands_markdown, "settings": settings_markdown}


def render(text: str) -> str:
    for name, generate in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        text = pattern.sub(lambda m, g=generate: f"{m.group(1)}{g()}\n{m.group(2)}", text)
    return text


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated, encoding="utf-8")
