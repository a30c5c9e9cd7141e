"""`newsflow extract`: many saved pages in one process, one JSON line per file."""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workers.commands import extract, progress
from workers.settings import Settings

PAGES = Path(__file__).parent / "pages" / "html"
FIELDS = {
    "file",
    "title",
    "text",
    "lead",
    "authors",
    "published_at",
    "modified_at",
    "language",
    "canonical_url",
    "site_name",
    "top_image",
    "section",
    "tags",
    "word_count",
}


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[dict[str, object]]]:
    parser = argparse.ArgumentParser(prog="newsflow")
    extract.register(parser.add_subparsers())
    args = parser.parse_args(["extract", *argv])
    code = args.func(args, Settings())
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_prints_one_json_line_per_file_with_every_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(PAGES / "stadtblatt_de.html"), str(PAGES / "seed_shape_library.txt")]
    code, records = _run(files, capsys)
    assert code == 0
    assert [r["file"] for r in records] == files
    assert all(set(r) == FIELDS for r in records)
    assert records[0]["language"] == "de"


def test_reads_gzipped_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html.gz"
    page.write_bytes(gzip.compress((PAGES / "radio_news_bridge.html").read_bytes()))
    _, [record] = _run([str(page)], capsys)
    assert record["title"] == "City council approves Harbor Bridge repairs after 4-hour debate"


def test_reads_pages_in_a_legacy_charset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.html"
    html = (
        (PAGES / "stadtblatt_de.html")
        .read_text(encoding="utf-8")
        .replace("„", '"')
        .replace("“", '"')
    )
    page.write_bytes(html.encode("cp1252"))
    _, [record] = _run([str(page)], capsys)
    assert "Straßenbahnlinie 9" in str(record["text"])


def test_skipped_pages_print_the_reason_and_detail(capsys: pytest.CaptureFixture[str]) -> None:
    _, [record] = _run([str(PAGES / "section_front.html")], capsys)
    assert record["skipped"] == "index_page"
    assert record["detail"]
    assert set(record) == {"file", "skipped", "detail"}


def test_url_option_resolves_relative_links(capsys: pytest.CaptureFixture[str]) -> None:
    _, [record] = _run(
        [str(PAGES / "liveblog_election.html"), "--url", "https://ledger.example/live/count"],
        capsys,
    )
    assert record["title"] == "County election results live: counting continues overnight"


def test_unreadable_file_is_reported_and_fails_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, records = _run(
        [str(tmp_path / "missing.html"), str(PAGES / "stadtblatt_de.html")], capsys
    )
    assert code == 1
    assert "error" in records[0]
    assert records[1]["title"]


def test_piped_output_gets_no_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="newsflow")
    extract.register(parser.add_subparsers())
    args = parser.parse_args(["extract", str(PAGES / "stadtblatt_de.html")])
    args.func(args, Settings())
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_count_rate_and_time_left(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "on_terminal", lambda: True)
    parser = argparse.ArgumentParser(prog="newsflow")
    extract.register(parser.add_subparsers())
    files = [str(PAGES / "stadtblatt_de.html"), str(PAGES / "radio_news_bridge.html")]
    args = parser.parse_args(["extract", *files])
    args.func(args, Settings())
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2  # the bar never mixes into the JSON lines
    assert "2/2" in captured.err
    assert "page/s" in captured.err
    assert "<00:00" in captured.err  # elapsed<remaining


def test_building_the_batch_commands_imports_no_heavy_library() -> None:
    """`newsflow --help` imports every command module: they must not import these at load."""
    heavy = ("sklearn", "scipy", "sqlalchemy", "celery", "torch", "trafilatura", "redis", "tqdm")
    code = (
        "import sys, workers.commands.extract, workers.commands.dedup, workers.commands.classify;"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
