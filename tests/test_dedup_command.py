"""`newsflow dedup FILE.jsonl`: the stage over a file, one verdict line per input line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import redis

from tests.test_dedup_corpus import CHIPS, FLOOD, truncated, wrapped
from workers.commands import dedup as command
from workers.settings import Settings


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="newsflow")
    command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args, settings))


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    docs = [("d1", FLOOD), ("d2", CHIPS), ("d3", wrapped(FLOOD)), ("d4", truncated(CHIPS))]
    path.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in docs))
    return path


def test_prints_new_or_duplicate_with_what_it_duplicates(
    input_file: Path, redis_url: str, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(redis_url=redis_url, key_prefix=key_prefix)
    assert _run(["dedup", str(input_file), "--fresh"], settings) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"doc_id": "d1", "status": "new", "duplicate_of": None},
        {"doc_id": "d2", "status": "new", "duplicate_of": None},
        {"doc_id": "d3", "status": "duplicate", "duplicate_of": "d1"},
        {"doc_id": "d4", "status": "duplicate", "duplicate_of": "d2"},
    ]


def test_fresh_run_leaves_no_keys_behind(
    input_file: Path, redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    _run(
        ["dedup", str(input_file), "--fresh"], Settings(redis_url=redis_url, key_prefix=key_prefix)
    )
    assert list(redis_client.scan_iter(match=f"{key_prefix}*")) == []


def test_a_namespace_keeps_its_index_between_runs(
    input_file: Path,
    redis_url: str,
    redis_client: redis.Redis,
    key_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(redis_url=redis_url, key_prefix=key_prefix)
    _run(["dedup", str(input_file), "--namespace", "trial"], settings)
    capsys.readouterr()
    _run(["dedup", str(input_file), "--namespace", "trial"], settings)
    statuses = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()]
    assert statuses == ["new", "new", "duplicate", "duplicate"]  # redelivery: same verdicts


def test_progress_total_counts_every_line_of_the_input(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"doc_id": 1}\n\n{"doc_id": 2}')  # a blank line, no final newline
    assert command._count_lines(str(path)) == 3
    assert command._count_lines("-") is None
