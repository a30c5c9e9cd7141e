"""Language detection: ISO 639-1 code of an article's text, or None when too little to tell.

py3langid ships its model inside the wheel (no download). One text is read by py3langid itself
(~100-500 µs for 300 characters: a Python loop over the bytes); many texts at once go through
`detect_languages`, which walks the same byte automaton for all texts in lock-step with numpy and
scores them with one sparse matmul: the same answers (checked against py3langid text by text in
tests/test_classify_language.py; 12,218 AG News + BBC articles: identical) at ~25,000 texts/s
instead of ~2,000-6,500. A language the caller already knows (the clean stage reads
`<html lang>` and detects on the full text) is preferred over both: see `known_language`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

# Below ~20 letters (a two-word headline) every detector guesses; report "unknown" instead.
MIN_LETTERS = 20
# py3langid's normalised probability below which the answer is a guess between related languages
# (e.g. a short Bokmål/Danish text); measured: correct answers on 1-sentence news leads score
# > 0.9, wrong ones are mostly < 0.5.
MIN_PROBABILITY = 0.5
# Detection reads the first 300 characters (a headline and a sentence or two): py3langid's cost
# grows with length and a single-language article gives the same answer from its start; all 500
# BBC stories tested were still "en" at 300 characters. 150 characters was 3x faster per text but
# left 171 of 12,218 dev articles without a language (18 at 300), so the batch path is the speed-up.
_MAX_CHARS = 300
# Below this many texts the lock-step walk's fixed cost (one numpy step per byte of the longest
# text) exceeds py3langid's per-text loop; measured crossover ~8 texts.
_MIN_BATCH = 16
# Texts walked together: bounds the (texts x bytes) feature array at ~20 MB.
_CHUNK = 2048


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class _BatchModel:
    """py3langid's byte automaton and naive-Bayes tables as numpy arrays (read once)."""

    def __init__(self, ident: Any) -> None:
        moves = ident.tk_nextmove
        self.next_move = np.frombuffer(moves, dtype=np.dtype(moves.typecode)).astype(np.int64)
        self.row_base = np.asarray(ident._rowbase, dtype=np.int64)
        self.output = np.asarray(ident.tk_output, dtype=np.int64)
        self.ptc = np.asarray(ident.nb_ptc, dtype=np.float32)  # (features, languages)
        self.pc = np.asarray(ident.nb_pc, dtype=np.float32)
        self.classes: list[str] = [str(c) for c in ident.nb_classes]
        self.alias_pairs: list[tuple[int, int]] = list(ident._alias_pairs)
        self.encode = ident._encode


@lru_cache(maxsize=1)
def _batch_model() -> _BatchModel | None:
    """The numpy view of py3langid's model, or None if its internals are not the expected ones."""
    try:
        model = _BatchModel(_identifier())
    except (AttributeError, TypeError, ValueError):
        return None
    if model.ptc.ndim != 2 or model.ptc.shape[1] != len(model.classes):
        return None
    return model


def _enough_letters(sample: str) -> bool:
    return sum(ch.isalpha() for ch in sample) >= MIN_LETTERS


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text`'s language, or None when it is too short or too ambiguous."""
    sample = text[:_MAX_CHARS]
    if not _enough_letters(sample):
        return None
    lang, prob = _identifier().classify(sample)
    return str(lang) if float(prob) >= MIN_PROBABILITY else None


def detect_languages(texts: Sequence[str]) -> list[str | None]:
    """`detect_language` of each text, computed for all of them together (same answers)."""
    model = _batch_model() if len(texts) >= _MIN_BATCH else None
    if model is None:
        return [detect_language(t) for t in texts]
    out: list[str | None] = []
    for start in range(0, len(texts), _CHUNK):
        out += _detect_chunk(model, texts[start : start + _CHUNK])
    return out


def known_language(
    texts: Sequence[str], languages: Sequence[str | None] | None
) -> list[str | None]:
    """The caller's languages where given (e.g. the clean stage's), detected ones elsewhere."""
    if languages is None:
        return detect_languages(texts)
    missing = [i for i, lang in enumerate(languages) if not lang]
    found = detect_languages([texts[i] for i in missing])
    result = list(languages)
    for i, lang in zip(missing, found, strict=True):
        result[i] = lang
    return result


def _detect_chunk(model: _BatchModel, texts: Sequence[str]) -> list[str | None]:
    samples = [t[:_MAX_CHARS] for t in texts]
    encoded: list[bytes] = [model.encode(s) for s in samples]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    n, width = len(encoded), int(lengths.max(initial=0))
    data = np.zeros((n, width), dtype=np.int64)
    for i, b in enumerate(encoded):
        data[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    # Every text steps through the automaton at once; positions past a text's end are dropped.
    state = np.zeros(n, dtype=np.int64)
    features = np.empty((n, width), dtype=np.int64)
    for t in range(width):
        state = model.next_move[model.row_base[state] + data[:, t]]
        features[:, t] = model.output[state]
    features[np.arange(width)[None, :] >= lengths[:, None]] = -1
    rows, cols = np.nonzero(features >= 0)
    counts = csr_matrix(
        (np.ones(len(rows), np.float32), (rows, features[rows, cols])),
        shape=(n, model.ptc.shape[0]),
    )
    counts.sum_duplicates()
    counts.data = np.log1p(counts.data)
    scores: npt.NDArray[np.float32] = np.asarray(counts @ model.ptc, dtype=np.float32) + model.pc
    # As py3langid with norm_probs: no feature -> uniform; temperature sqrt(bytes); softmax;
    # script aliases (srl -> sr) folded into their first column.
    scores[np.diff(counts.indptr) == 0] = 0.0
    scores *= (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)[:, None]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    for i, j in model.alias_pairs:
        scores[:, i] += scores[:, j]
        scores[:, j] = 0.0
    best = scores.argmax(axis=1)
    prob = scores[np.arange(n), best]
    return [
        model.classes[int(b)] if p >= MIN_PROBABILITY and _enough_letters(s) else None
        for s, b, p in zip(samples, best, prob, strict=True)
    ]
