"""The trained-model artifact: one `.npz` file of plain arrays, loaded with allow_pickle=False.

Contents: `meta` (UTF-8 JSON as uint8: version, labels, feature kind, training facts),
`vocabulary` (terms joined by newlines, as uint8), `idf`, `word_coef` (vocabulary x labels),
`intercept` (labels) and, for models that use sentence embeddings, `embedding_coef` (384 x labels).
No pickle anywhere: a model file from an untrusted place cannot execute code when loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FeatureKind = Literal["words", "words+embedding"]
FORMAT = "newsflow-linear-classifier/1"


class ArtifactError(ValueError):
    """The bytes are not a newsflow classifier artifact of a known format."""


@dataclass(frozen=True)
class LinearModel:
    """Weights of a linear topic model over word TF-IDF (and optionally MiniLM embeddings)."""

    labels: tuple[str, ...]
    vocabulary: tuple[str, ...]
    idf: npt.NDArray[np.float32]
    word_coef: npt.NDArray[np.float32]  # (vocabulary, labels)
    intercept: npt.NDArray[np.float32]  # (labels,)
    embedding_coef: npt.NDArray[np.float32] | None = None  # (384, labels), scale folded in
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> FeatureKind:
        return "words" if self.embedding_coef is None else "words+embedding"

    @property
    def version(self) -> str:
        return str(self.meta["version"])


def content_version(prefix: str, arrays: list[npt.NDArray[Any]], labels: tuple[str, ...]) -> str:
    """A version name that changes whenever the weights do: `prefix-<sha256[:12]>`."""
    h = hashlib.sha256("\n".join(labels).encode())
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return f"{prefix}-{h.hexdigest()[:12]}"


def _text_array(text: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def dump_model(model: LinearModel) -> bytes:
    """Serialise to the `.npz` bytes kept on disk and in the Redis registry."""
    meta = dict(model.meta, format=FORMAT, labels=list(model.labels), features=model.features)
    arrays: dict[str, npt.NDArray[Any]] = {
        "meta": _text_array(json.dumps(meta, sort_keys=True)),
        "vocabulary": _text_array("\n".join(model.vocabulary)),
        "idf": model.idf.astype(np.float32),
        "word_coef": model.word_coef.astype(np.float32),
        "intercept": model.intercept.astype(np.float32),
    }
    if model.embedding_coef is not None:
        arrays["embedding_coef"] = model.embedding_coef.astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def load_model(data: bytes) -> LinearModel:
    """Parse artifact bytes; raises ArtifactError on anything but a valid artifact."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            vocab_text = bytes(z["vocabulary"]).decode("utf-8")
            model = LinearModel(
                labels=tuple(meta["labels"]),
                vocabulary=tuple(vocab_text.split("\n")) if vocab_text else (),
                idf=z["idf"].astype(np.float32),
                word_coef=z["word_coef"].astype(np.float32),
                intercept=z["intercept"].astype(np.float32),
                embedding_coef=(
                    z["embedding_coef"].astype(np.float32) if "embedding_coef" in z.files else None
                ),
                meta=meta,
            )
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"not a classifier artifact: {exc}") from exc
    if meta.get("format") != FORMAT or "version" not in meta:
        raise ArtifactError(f"unknown artifact format {meta.get('format')!r}")
    k, v = len(model.labels), len(model.vocabulary)
    if model.word_coef.shape != (v, k) or model.intercept.shape != (k,) or model.idf.shape != (v,):
        raise ArtifactError("artifact arrays do not match its vocabulary and labels")
    return model


def save_model(model: LinearModel, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(dump_model(model))
    return out


def read_model(path: str | Path) -> LinearModel:
    return load_model(Path(path).read_bytes())
