"""py3langid's model, read from an unpacked copy in the user's cache instead of its LZMA file.

py3langid 0.4 ships its model as an LZMA-compressed npz (4.6 MB, 68 MB unpacked) and unpacks it
on every load: 0.35-0.8 s of CPU in every process that detects a language, which was most of
what `newsflow extract PAGE` spent before extracting (and what every clean worker process spends
warming up). The first load writes the model's arrays, unpacked, as .npy files into
`$XDG_CACHE_HOME/newsflow` (else `~/.cache/newsflow`); later loads map them (~0.03 s): the
naive-Bayes table and the byte automaton stay read-only mappings of the files, shared by every
process through the page cache.

The arrays are py3langid's own, bit for bit, turned into its `LanguageIdentifier` as its loader
does (the automaton as a memoryview rather than a copied `array`), so no answer changes
(tests/test_langid_model.py compares every table and answers with py3langid's own load). The
cache entry is named after py3langid's version and the model file's size and mtime,
so an upgraded model never meets a stale entry. It is written into a temporary directory that is
renamed into place: processes racing to write it each finish a complete copy and one rename wins;
a reader sees a whole entry or none. Where nothing can be written (read-only home, full disk) or
the model is not the expected layout, py3langid loads its own file as before. Nothing is
downloaded.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

# The arrays of py3langid 0.4's model.npz, as its `modelio.load_model` reads them.
_KEYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
# Item size -> `array` type code, as py3langid's `modelio._TYPECODE`.
_TYPECODES: dict[int, Literal["H", "I", "L"]] = {2: "H", 4: "I", 8: "L"}


def default_cache_dir() -> Path | None:
    """`$XDG_CACHE_HOME/newsflow`, else `~/.cache/newsflow`; None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "newsflow"
    try:
        return Path.home() / ".cache" / "newsflow"
    except RuntimeError:  # no HOME and no passwd entry
        return None


def load_identifier(cache_dir: Path | None) -> Any:
    """py3langid's `LanguageIdentifier` (normalised probabilities) over its bundled model, read
    from the unpacked copy in `cache_dir` (written there first if missing)."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    if cache_dir is not None:
        arrays = cached_arrays(Path(MODEL_DIR) / MODEL_FILE, cache_dir)
        if arrays is not None:
            from py3langid.modelio import _to_array

            # As py3langid's `from_model_file` over `load_model`'s tuple, but for the automaton:
            # a memoryview of the mapped file, indexed like the `array` py3langid would copy it
            # into (39 MB: 0.02-0.06 s per load, and private memory in every process).
            return LanguageIdentifier(
                np.asarray(arrays["ptc"]),
                np.asarray(arrays["pc"]),
                arrays["classes"].tolist(),
                _shared_view(arrays["nextmove"]),
                arrays["out_feat"].tolist(),
                norm_probs=True,
                tk_row=_to_array(arrays["nextmove_row"]),
            )
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _shared_view(mapped: Any) -> memoryview:
    """A read-only memoryview of a mapped unsigned-integer array, items as in `array.array`."""
    return memoryview(mapped).cast("B").cast(_TYPECODES[mapped.dtype.itemsize])


def cached_arrays(model_file: Path, cache_dir: Path) -> dict[str, Any] | None:
    """The model's arrays, mapped from `cache_dir` (unpacked there first if missing); None when
    the cache can be neither read nor written, or the model is not py3langid 0.4's layout."""
    try:
        from py3langid import __version__ as version

        stat = model_file.stat()
    except (ImportError, OSError):
        return None
    entry = cache_dir / f"py3langid-{version}-{stat.st_size}-{stat.st_mtime_ns}"
    if not entry.is_dir():
        try:
            _unpack(model_file, entry)
        except (OSError, KeyError, ValueError, EOFError, lzma.LZMAError):
            return None
    try:
        return {key: np.load(entry / f"{key}.npy", mmap_mode="r") for key in _KEYS}
    except (OSError, ValueError):
        # A damaged entry (a file cut short by a crash): py3langid's own file still works, and
        # the entry is removed so the next load writes it anew. A process that mapped it first
        # keeps its mapping.
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _unpack(model_file: Path, entry: Path) -> None:
    """Write the model's arrays as .npy files into the directory `entry`, atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        packed = staging / "model.npz"
        with lzma.open(model_file) as source, packed.open("wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        with np.load(packed, allow_pickle=False) as data:
            for key in _KEYS:
                with (staging / f"{key}.npy").open("wb") as out:
                    np.save(out, data[key], allow_pickle=False)
                    out.flush()
                    os.fsync(out.fileno())  # whole files before the rename makes them visible
        packed.unlink()
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a cache shared between users
        try:
            os.replace(staging, entry)
        except OSError:
            if not entry.is_dir():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
