"""README, Procfile, config examples and CI script agree with the code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from workers.cli import COMMAND_MODULES, build_parser
from workers.commands.feeds import load_feeds_file
from workers.processes import PROCESS_TYPES, procfile_text
from workers.settings import settings_example_env

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _sync_readme() -> object:
    spec = importlib.util.spec_from_file_location("sync_readme", ROOT / "scripts/sync-readme.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_generated_sections_match_the_code() -> None:
    """Run `python scripts/sync-readme.py` after changing a setting or a command's help."""
    assert _sync_readme().render(README) == README  # type: ignore[attr-defined]


def test_readme_documents_every_setting_and_command() -> None:
    for command in COMMAND_MODULES:
        assert f"`newsflow {command}`" in README
    for env in re.findall(r'_opt\(\s*"([A-Z_]+)"', (ROOT / "workers/settings.py").read_text()):
        assert f"`{env}`" in README


def test_every_command_has_help() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    for command in COMMAND_MODULES:
        assert command in help_text


def test_procfile_lists_exactly_the_process_types() -> None:
    assert (ROOT / "Procfile").read_text(encoding="utf-8") == procfile_text()
    for name, command in PROCESS_TYPES.items():
        assert command in README, f"README's process table lacks {name}"


def test_quick_start_is_make_demo_then_make_test_and_ci_runs_make_test() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert re.findall(r"^make (\w+)", quick_start, re.M) == ["demo", "test"]
    assert "make test" in (ROOT / ".ci/run").read_text(encoding="utf-8")


def test_example_feeds_file_loads() -> None:
    specs = load_feeds_file(ROOT / "config/feeds.yaml")
    assert specs
    assert all(spec.url.startswith("https://") for spec in specs)


def test_settings_example_file_lists_every_setting_with_its_default() -> None:
    """Regenerate with `python scripts/sync-readme.py`."""
    text = (ROOT / "config/settings.example.env").read_text(encoding="utf-8")
    assert text == settings_example_env()


def test_settings_sizes_the_dedup_window_with_the_measured_bytes_per_article() -> None:
    """The Redis cost per article in settings.py is the one docs/dedup.md measured."""
    measured = re.search(r"\*\*([\d,]+) bytes per indexed article\*\*", _read("docs/dedup.md"))
    assert measured
    settings_source = _read("workers/settings.py")
    comment = settings_source.split("dedup_window_days", 1)[0].rsplit("# ---", 1)[1]
    assert f"{measured.group(1)} bytes" in comment


def test_the_pipeline_benchmark_options_the_docs_use_exist() -> None:
    """docs/performance.md and docs/scaling.md give benchmarks/pipeline.py command lines; every
    option they pass must be one the script takes."""
    script = _read("benchmarks/pipeline.py")
    offered = set(re.findall(r'add_argument\(\s*"(--[a-z-]+)"', script))
    for doc in ("docs/performance.md", "docs/scaling.md"):
        for line in _read(doc).splitlines():
            if "benchmarks/pipeline.py" not in line:
                continue
            command = line.split("pipeline.py", 1)[1].split("`", 1)[0]  # to the end of the code
            used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", command))
            assert used <= offered, (doc, line, used - offered)


def test_the_documented_classify_layout_is_the_worker_default() -> None:
    """docs/performance.md sizes machines with one classify process per two cores."""
    from workers.commands.worker import default_concurrency

    assert "one per two cores" in _read("docs/performance.md")
    assert default_concurrency("prefork", ["classify"], 8) == 4
    assert default_concurrency("prefork", ["clean"], 8) == 8


def _read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")
