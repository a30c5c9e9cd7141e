"""Dependencies: one lock read by every install, declared ranges it satisfies, nothing unused.

requirements.lock is written by `make lock` (pip-compile over pyproject.toml); these tests fail
when pyproject.toml changed without it, or when an install path stops reading it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK_TEXT = (ROOT / "requirements.lock").read_text(encoding="utf-8")
LOCKED = {
    canonicalize_name(name): Version(version)
    for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", LOCK_TEXT, re.M)
}
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]
# Declared runtime dependencies that no module imports by name, each with the reason it is needed.
NOT_IMPORTED = {
    "psycopg": "SQLAlchemy's PostgreSQL driver, chosen by DATABASE_URL=postgresql+psycopg://",
}


def _imported_top_level_modules(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("requirement", RUNTIME + DEV, ids=str)
def test_the_lock_pins_every_declared_dependency_within_its_range(
    requirement: Requirement,
) -> None:
    """After editing pyproject.toml's dependencies, run `make lock`."""
    name = canonicalize_name(requirement.name)
    assert name in LOCKED, f"{name} is not in requirements.lock: run `make lock`"
    assert requirement.specifier.contains(LOCKED[name], prereleases=True), (
        f"requirements.lock has {name}=={LOCKED[name]}, outside {requirement}: run `make lock`"
    )


def test_the_lock_pins_torch_2_13_cpu_build() -> None:
    """Any other torch from PyPI is the CUDA build with GBs of GPU libraries."""
    assert re.search(r"^torch==2\.13\.0\+cpu$", LOCK_TEXT, re.M)
    assert not re.search(r"^(nvidia-|triton==)", LOCK_TEXT, re.M)


def test_setup_ci_and_the_image_all_install_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^LOCK := requirements\.lock$", makefile, re.M)
    setup_recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q --no-deps -r $(LOCK)" in setup_recipe
    assert "pip install -q --no-deps --no-build-isolation -e ." in setup_recipe
    lock_recipe = makefile.split("\nlock: setup\n", 1)[1].split("\n\n", 1)[0]
    assert "pip-compile" in lock_recipe
    assert "--output-file $(LOCK)" in lock_recipe

    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "make setup" in ci
    assert "pip install" not in ci

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install[^&]*", dockerfile.replace("\\\n", " "))
    assert installs
    assert all("-c requirements.lock" in line for line in installs), installs
    assert "COPY requirements.lock" in dockerfile


def test_every_runtime_dependency_is_imported_or_says_why() -> None:
    """A dependency nothing imports is dead weight in every install (as defusedxml was)."""
    distributions = packages_distributions()
    imported = {
        canonicalize_name(dist)
        for module in _imported_top_level_modules(ROOT / "workers")
        for dist in distributions.get(module, [])
    }
    for requirement in RUNTIME:
        name = canonicalize_name(requirement.name)
        assert name in imported or name in NOT_IMPORTED, f"workers/ never imports {name}"
    for name in NOT_IMPORTED:
        assert name not in imported, f"{name} is imported now: drop it from NOT_IMPORTED"


def test_every_package_mypy_may_skip_is_one_workers_imports() -> None:
    imported = _imported_top_level_modules(ROOT / "workers")
    for override in PYPROJECT["tool"]["mypy"]["overrides"]:
        if not override.get("ignore_missing_imports"):
            continue
        for pattern in override["module"]:
            assert pattern.removesuffix(".*") in imported, f"nothing imports {pattern}"


def test_kombu_keeps_redis_queues_where_the_status_views_read_them() -> None:
    """workers/observe.py counts queue depths and unacked messages from kombu's Redis key names:
    priority levels live in lists "<queue>\\x06\\x16<n>" and unacked messages in a hash "unacked".
    Re-check before raising kombu's cap in pyproject.toml."""
    from kombu.transport.redis import Channel

    assert Channel.sep == "\x06\x16"
    assert list(Channel.priority_steps) == [0, 3, 6, 9]
    assert Channel.unacked_key == "unacked"
