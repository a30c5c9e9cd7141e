"""The layering ../shared/DESIGN.md describes, checked on every module's imports.

- Stages are pure: `workers/stages/` imports no adapter, store, queue, settings or CLI code, and
  no Celery, kombu, Redis or SQLAlchemy.
- Product code never leans on the demo or the CLI: only `workers/cli.py`, `workers/commands/`
  and `workers/demo/` import `workers.demo`; only `workers/cli.py` imports `workers.commands`.
- The runner holds queue semantics without Celery: `workers/runner.py` imports no Celery.

Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workers"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, module: str | None = None) -> set[str]:
    """Every module `path` (the module `module`, by default the one its place names) imports,
    absolute, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(under: str) -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py")) if under else sorted(PACKAGE.rglob("*.py"))


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in paths:
        hits = sorted(
            name
            for name in imports_of(path)
            if any(name == f or name.startswith(f"{f}.") for f in forbidden)
        )
        if hits:
            bad[module_name(path)] = hits
    return bad


def test_stages_are_pure() -> None:
    forbidden = (
        "workers.adapters", "workers.store", "workers.tasks", "workers.app", "workers.runner",
        "workers.services", "workers.settings", "workers.queueing", "workers.commands",
        "workers.cli", "workers.demo", "celery", "kombu", "redis", "sqlalchemy",
    )  # fmt: skip
    assert offending(modules("stages"), forbidden) == {}


def test_product_code_never_imports_the_demo_or_the_commands() -> None:
    allowed = {PACKAGE / "cli.py", *modules("commands"), *modules("demo")}
    product = [p for p in modules("") if p not in allowed]
    assert offending(product, ("workers.demo", "workers.commands")) == {}


def test_only_the_cli_entry_point_imports_the_commands() -> None:
    others = [p for p in modules("") if p != PACKAGE / "cli.py" and p not in modules("commands")]
    assert offending(others, ("workers.commands",)) == {}


def test_the_runner_knows_no_celery() -> None:
    assert offending([PACKAGE / "runner.py"], ("celery", "kombu")) == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from workers.store import open_store", {"workers.store", "workers.store.open_store"}),
        ("def f():\n    import redis\n", {"redis"}),
        ("from . import body", {"workers.stages.clean", "workers.stages.clean.body"}),
    ],
)
def test_the_checker_sees_every_kind_of_import(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    # As if it were workers/stages/clean/probe.py, so relative imports resolve there.
    assert imports_of(probe, "workers.stages.clean.probe") == expected


def test_the_event_envelope_is_pure() -> None:
    """workers/events/envelope.py builds envelopes from values: the store and the relay use it,
    it uses neither (nor Redis, SQLAlchemy or the settings)."""
    forbidden = (
        "workers.store", "workers.services", "workers.settings", "workers.events.relay",
        "redis", "sqlalchemy", "celery",
    )  # fmt: skip
    assert offending([PACKAGE / "events" / "envelope.py"], forbidden) == {}
