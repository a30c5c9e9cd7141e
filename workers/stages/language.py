"""An article's language: ISO 639-1 code detected from its text, the page's declaration as the
fallback, None when neither tells. The one detector of the clean and classify stages.

The clean stage calls `detect_language(text, declared)` with the page's `<html lang>`; the
classify stage keeps the clean stage's answer and detects only where there is none
(`known_language`). py3langid ships its model inside the wheel (no download); it is read through
an unpacked copy in the user's cache (`langid_model.py`), the same tables. One text is read by
py3langid itself (a Python loop over the bytes, ~0.4 µs a byte); many texts at once go through
`detect_languages`, which walks the same byte automaton for all texts in lock-step with numpy and
scores them with one sparse matmul: the same answers (checked text by text in
tests/test_language.py and on every development text by benchmarks/language.py) at 5-7x the
speed.

The numbers below are from `benchmarks/language.py` (results in docs/classify.md): 9,993 AG News
headline + lead texts, 2,225 BBC stories, their first 150 characters, and 791 extraction-dev
article bodies, all English; the tests add one-sentence leads in seven languages.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

# Below 20 letters (a three-word headline) every detector guesses. Counted in letters, not words,
# so a one-sentence lead (~10 words) is long enough (7 of 7 languages in tests/test_language.py)
# and Chinese or Japanese, written without spaces, count fairly. A 20-word minimum (the clean
# stage's former rule) left 199 of the 9,993 AG News texts undetected; no text has < 20 letters.
MIN_LETTERS = 20
# Normalised probability (over py3langid's 97 languages) from which the detector's answer is
# reported when the page declares nothing. AG News: answers at p >= 0.8 were all right; at
# 0.5-0.8, 64 right and 2 wrong (Nigerian stories read as Pidgin); below 0.5, 7 right, 3 wrong.
MIN_PROBABILITY = 0.5
# From this probability the detector overrules a page's declared language. A declaration is
# right far more often than a 0.5-0.8 guess, which is where closely related languages land
# (a Danish sentence scores "da" 0.69; Bosnian/Croatian/Serbian, Indonesian/Malay alike), so
# below 0.8 the declaration stands.
OVERRULE_PROBABILITY = 0.8
# The first 800 characters (~130 words) decide. The cost is per byte, so the sample is most of it:
# 800 instead of 1,500 characters gave the same answer (at p >= 0.8) on all 321 texts tried (the
# fixture and demo pages, 300 BBC stories, the scraped seed article); at 400 two answers changed,
# and 300 left 18 AG News texts undetected where 800 leaves 10. Batched, the texts are walked
# shortest first, so short ones (AG News) cost the same as with a 300-character sample; whole
# stories cost ~2.8x (BBC: ~0.4 ms a text on 2 busy cores, a tenth of encoding one).
SAMPLE_CHARS = 800
# When the page declares a language, a 200-character sample is tried first: if the detector is
# already sure (OVERRULE_PROBABILITY) of the declared language there, the longer sample would
# only confirm it (it did on 99.4% of the 321 texts, and disagreed on none). A third of the cost
# for the usual page, whose declaration is right; a page that declares wrongly pays 1.25x.
QUICK_SAMPLE_CHARS = 200
# Below this many texts the lock-step walk's fixed cost (one numpy step per byte of the longest
# text) exceeds py3langid's per-text loop; measured crossover ~8 texts.
_MIN_BATCH = 16
# Texts walked together: bounds the two (texts x bytes) arrays at ~25 MB even for 800 characters
# of Cyrillic or Greek (two bytes each).
_CHUNK = 1024

# (language code, normalised probability) of one sample.
Guess = tuple[str, float]


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of `text`'s language; `declared` when the text cannot tell (or agrees)."""
    return detect_languages([text], [declared])[0]


def detect_languages(
    texts: Sequence[str], declared: Sequence[str | None] | None = None
) -> list[str | None]:
    """`detect_language` of each text (with its declared language, if given), all at once."""
    declared = list(declared) if declared is not None else [None] * len(texts)
    samples = [text[:SAMPLE_CHARS] for text in texts]
    answers: list[str | None] = list(declared)
    quick = [i for i, lang in enumerate(declared) if lang and _readable(samples[i])]
    confirmed: set[int] = set()
    quick_guesses = _guess([texts[i][:QUICK_SAMPLE_CHARS] for i in quick])
    for i, (code, p) in zip(quick, quick_guesses, strict=True):
        if code == declared[i] and p >= OVERRULE_PROBABILITY:
            confirmed.add(i)
    full = [i for i, s in enumerate(samples) if i not in confirmed and _readable(s)]
    for i, (code, p) in zip(full, _guess([samples[i] for i in full]), strict=True):
        needed = OVERRULE_PROBABILITY if declared[i] else MIN_PROBABILITY
        if p >= needed:
            answers[i] = code
    return answers


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


def _readable(sample: str) -> bool:
    return sum(ch.isalpha() for ch in sample) >= MIN_LETTERS


def _guess(samples: Sequence[str]) -> list[Guess]:
    """py3langid's best language and its probability for each sample."""
    model = _batch_model() if len(samples) >= _MIN_BATCH else None
    if model is None:
        identifier = _identifier()
        return [_as_guess(identifier.classify(s)) for s in samples]
    # Walked shortest first, so each chunk steps only as far as its own longest sample.
    order = sorted(range(len(samples)), key=lambda i: len(samples[i]))
    out: list[Guess] = [("", 0.0)] * len(samples)
    for start in range(0, len(order), _CHUNK):
        chunk = order[start : start + _CHUNK]
        for i, guess in zip(chunk, _guess_chunk(model, [samples[i] for i in chunk]), strict=True):
            out[i] = guess
    return out


def _as_guess(answer: tuple[Any, Any]) -> Guess:
    code, probability = answer
    return str(code), float(probability)


@cache
def _identifier() -> Any:
    # Loaded once per process on first use: ~0.03 s from the unpacked copy in the user's cache,
    # 0.35-0.8 s the first time (or where no cache can be written). See langid_model.py.
    from workers.stages.langid_model import default_cache_dir, load_identifier

    return load_identifier(default_cache_dir())


class _BatchModel:
    """py3langid's byte automaton and naive-Bayes tables as numpy arrays (read once)."""

    def __init__(self, ident: Any) -> None:
        # py3langid's `array`, or the memoryview of the cached file (langid_model.py): numpy
        # reads the item type from either's buffer.
        self.next_move = np.asarray(ident.tk_nextmove).astype(np.int64)
        self.row_base = np.asarray(ident._rowbase, dtype=np.int64)
        self.output = np.asarray(ident.tk_output, dtype=np.int64)
        self.ptc = np.asarray(ident.nb_ptc, dtype=np.float32)  # (features, languages)
        self.pc = np.asarray(ident.nb_pc, dtype=np.float32)
        self.classes: list[str] = [str(c) for c in ident.nb_classes]
        self.alias_pairs: list[tuple[int, int]] = list(ident._alias_pairs)
        self.encode = ident._encode


@cache
def _batch_model() -> _BatchModel | None:
    """The numpy view of py3langid's model, or None if its internals are not the expected ones."""
    try:
        model = _BatchModel(_identifier())
    except (AttributeError, TypeError, ValueError):
        return None
    if model.ptc.ndim != 2 or model.ptc.shape[1] != len(model.classes):
        return None
    return model


def _guess_chunk(model: _BatchModel, samples: Sequence[str]) -> list[Guess]:
    # Imported here: only batches (the classify stage) need it, and the clean stage, one text
    # at a time, should not pay SciPy's import (~0.3 s) for `newsflow extract`.
    from scipy.sparse import csr_matrix

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
    return [(model.classes[int(b)], float(p)) for b, p in zip(best, prob, strict=True)]
