"""py3langid's model read from an unpacked copy in a cache directory: the same model, written once
even by processes racing to write it, and py3langid's own loading wherever the cache fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from workers.stages.langid_model import cached_arrays, default_cache_dir, load_identifier

SOURCE = Path(MODEL_DIR) / MODEL_FILE
TEXTS = [
    "The government announced new measures on Tuesday to curb rising inflation.",
    "Die Regierung hat am Dienstag neue Maßnahmen gegen die Inflation angekündigt.",
    "Правительство во вторник объявило о новых мерах по борьбе с инфляцией.",
    "東京株式市場で日経平均株価は大幅に値上がりし、終値は前日より上昇しました。",
    "Regeringen fremlagde et nyt forslag om skat i tirsdags.",
    "12345 67890 !!! ???",
    "",
]


@pytest.fixture(scope="module")
def py3langids_own() -> Any:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache directory the model was loaded through once (so it holds the unpacked copy)."""
    cache_dir = tmp_path_factory.mktemp("langid-cache")
    load_identifier(cache_dir)
    yield cache_dir
    shutil.rmtree(cache_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_copies_left_behind(tmp_path: Path) -> Iterator[None]:
    """Each unpacked copy is 66 MB: not kept with the test run's temporary files."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def assert_same_model(ours: Any, theirs: Any) -> None:
    assert ours.nb_ptc.dtype == theirs.nb_ptc.dtype
    assert np.array_equal(ours.nb_ptc, theirs.nb_ptc)
    assert ours.nb_pc.dtype == theirs.nb_pc.dtype
    assert np.array_equal(ours.nb_pc, theirs.nb_pc)
    assert ours.nb_classes == theirs.nb_classes
    assert memoryview(ours.tk_nextmove).format == memoryview(theirs.tk_nextmove).format
    assert memoryview(ours.tk_nextmove) == memoryview(theirs.tk_nextmove)
    assert ours.tk_row == theirs.tk_row
    assert ours.tk_output == theirs.tk_output
    assert ours._alias_pairs == theirs._alias_pairs
    assert [ours.classify(t) for t in TEXTS] == [theirs.classify(t) for t in TEXTS]


def test_the_model_written_to_the_cache_is_py3langids_own(
    tmp_path: Path, py3langids_own: Any
) -> None:
    assert_same_model(load_identifier(tmp_path), py3langids_own)


def test_the_model_read_back_from_the_cache_is_py3langids_own(
    filled_cache: Path, py3langids_own: Any
) -> None:
    assert cached_arrays(SOURCE, filled_cache) is not None  # an entry is there to read
    assert_same_model(load_identifier(filled_cache), py3langids_own)


def test_the_cache_holds_one_complete_entry_and_no_leftovers(filled_cache: Path) -> None:
    (entry,) = filled_cache.iterdir()
    assert entry.name.startswith("py3langid-")
    assert sorted(p.name for p in entry.iterdir()) == sorted(
        f"{key}.npy" for key in ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
    )


def test_the_big_tables_are_mapped_from_the_files_not_read_into_memory(
    filled_cache: Path,
) -> None:
    """Every process mapping the same file shares its pages."""
    arrays = cached_arrays(SOURCE, filled_cache)
    assert arrays is not None
    for key in ("ptc", "nextmove"):
        assert isinstance(arrays[key], np.memmap)
        assert not arrays[key].flags.writeable


def test_the_batch_path_reads_the_same_automaton(filled_cache: Path, py3langids_own: Any) -> None:
    from workers.stages.language import _BatchModel

    ours, theirs = _BatchModel(load_identifier(filled_cache)), _BatchModel(py3langids_own)
    assert ours.next_move.dtype == theirs.next_move.dtype
    assert np.array_equal(ours.next_move, theirs.next_move)


def test_processes_writing_the_cache_at_once_all_get_the_model(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from workers.stages.langid_model import load_identifier\n"
        "print(load_identifier(Path(sys.argv[1])).classify(sys.argv[2])[0])\n"
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), TEXTS[1]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        outcomes.append((racer.returncode, out.strip(), err))
    assert outcomes == [(0, "de", "")] * 3
    assert [p.name.startswith("py3langid-") for p in tmp_path.iterdir()] == [True]


def test_a_cache_that_cannot_be_written_falls_back_to_py3langids_own_loading(
    tmp_path: Path, py3langids_own: Any
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    cache_dir = blocker / "newsflow"  # mkdir fails here even for root, unlike chmod 0555
    assert cached_arrays(SOURCE, cache_dir) is None
    assert_same_model(load_identifier(cache_dir), py3langids_own)


def test_a_damaged_entry_falls_back_and_is_written_anew_by_the_next_load(
    tmp_path: Path, py3langids_own: Any
) -> None:
    load_identifier(tmp_path)
    (entry,) = tmp_path.iterdir()
    with (entry / "ptc.npy").open("r+b") as cut:
        cut.truncate(1000)
    assert_same_model(load_identifier(tmp_path), py3langids_own)  # py3langid's own file
    assert cached_arrays(SOURCE, tmp_path) is not None  # rewritten
    assert_same_model(load_identifier(tmp_path), py3langids_own)


def test_no_cache_directory_means_py3langids_own_loading(py3langids_own: Any) -> None:
    assert_same_model(load_identifier(None), py3langids_own)


def test_the_cache_lives_in_the_xdg_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "newsflow"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "newsflow"
