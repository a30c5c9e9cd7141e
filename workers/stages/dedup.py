"""Dedup stage, pure part: text normalisation, fingerprints and the near-duplicate decision.

An article is a duplicate at one of three levels, checked in this order by the index:
  url    same canonical URL and the same normalised text as an article already seen;
  exact  the same normalised text (case, Unicode form, punctuation and spacing ignored);
  near   a copy wrapped in other boilerplate, truncated, lightly edited or reordered.

`fingerprint_text` turns a text into a `TextFingerprint`: everything the index stores or looks
up, computed here so the Redis side (`workers.adapters.dedup_index`) only compares numbers. The
near-duplicate test is MinHash over word 2-shingles of the text's *content lines*, with
Jaccard *and* containment estimates (so a truncated copy or one inside extra boilerplate
matches), LSH bands to find candidates, and a guard on the numbers in the text so template
reports (market close, weather, results) whose figures differ are never merged.

`near_duplicate_score` is the reference implementation of the decision; the Lua script in the
adapter mirrors it and receives the same thresholds from `NearThresholds`. Nothing here uses
Python's `hash()` (salted per process): every hash is xxhash64 or blake2b, so fingerprints agree
across processes and machines.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import xxhash

from workers.models import DedupVerdict

# --- tuned numbers (measured on /work/shared/data/dedup-dev with benchmarks/dedup.py) ------------

# Word 2-shingles. On the dev pairs with exact shingle sets, 2-shingles caught lightly edited
# copies (10-20% of words changed) at Jaccard 0.50-0.76 while 3-shingles fell to 0.35-0.46,
# overlapping different stories that share one site's boilerplate; best recall at precision
# 0.995 was 0.99 for 2-shingles against 0.90 for 3-shingles.
SHINGLE_WORDS = 2

# A line shorter than this many words is navigation, a caption, a share button or a teaser
# headline, not story prose, and is left out of the shingles. Measured: with all lines,
# different stories inside one site's boilerplate reached containment 0.80 (indistinguishable
# from edited copies); keeping lines of >= 15 words cut that to <= 0.70 while the story bodies
# (paragraphs of 20-80 words) were untouched. 10 words let more boilerplate teasers through,
# 20 words started dropping short real paragraphs (recall on truncated copies fell 0.99 -> 0.95).
CONTENT_LINE_MIN_WORDS = 15

# When the content lines hold less than this share of all shingles the text is not laid out
# in paragraphs (one sentence per line, a list): fall back to shingling every line.
CONTENT_MIN_SHARE = 0.2

# Fewer shingles than this (a text of about 30 words) are too few for a near-duplicate estimate
# to mean anything: two short briefs on the same event share most word pairs. Such texts are
# matched on exact text only.
MIN_SHINGLES = 30

# MinHash slots. The similarity estimate's standard error is sqrt(J(1-J)/K): 0.031 at J=0.45
# with K=256, half the gap between the closest negative pairs (J <= 0.51 exact) and the
# threshold below; K=128 (0.044) measurably let more shared-boilerplate pairs through.
NUM_PERM = 256

# Each slot is stored as its low 16 bits (b-bit MinHash): two different minima then collide
# with probability 1/65536, which shifts a Jaccard estimate by < 0.0001 and halves memory.
SLOT_BITS = 16

# LSH: BANDS bands of ROWS slots each (taken from the first BANDS*ROWS slots). A pair with
# Jaccard J becomes a candidate with probability 1 - (1 - J^ROWS)^BANDS: 0.98 at J=0.42 (the
# acceptance threshold), 0.86 at J=0.3, 0.008 at J=0.02 (unrelated stories). Each band is one
# Redis key per article, so BANDS is also the main memory cost (~70-100 bytes each).
BANDS = 20
ROWS = 2

# Numbers (tokens with a digit) kept per article as a bottom-k sketch of their hashes; 24 is
# exact for almost every story (median 11 distinct numbers in the dev texts).
NUMBERS_KEPT = 24


@dataclass(frozen=True, slots=True)
class NearThresholds:
    """The near-duplicate decision's thresholds (one place; the Lua script receives them).

    Measured on the dev pairs with 256-slot estimates (benchmarks/dedup.py --tune): lightly
    edited copies sit at Jaccard >= 0.47, truncated or boilerplate-wrapped copies at
    containment >= 0.7, while different stories inside the same boilerplate stay below
    Jaccard 0.5 / containment 0.7 in all but ~3% of pairs and different stories on the same
    event below 0.37. The number guard rejects a pair whose smaller set of numbers is less
    than half contained in the other (template reports with new figures).
    """

    jaccard: float = 0.45
    containment: float = 0.66
    numbers_min: int = 3  # fewer distinct numbers than this in either text: no number guard
    numbers_containment: float = 0.5


THRESHOLDS = NearThresholds()

_TOKEN = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_SLOT_MASK = (1 << SLOT_BITS) - 1


def _permutation_params(count: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Multiply-shift hash parameters derived from blake2b, so every machine gets the same."""
    a = np.empty(count, dtype=np.uint64)
    b = np.empty(count, dtype=np.uint64)
    for i in range(count):
        digest = hashlib.blake2b(f"newsflow-minhash-{i}".encode(), digest_size=16).digest()
        a[i] = int.from_bytes(digest[:8], "little") | 1  # odd multiplier: a bijection mod 2^64
        b[i] = int.from_bytes(digest[8:], "little")
    return a, b


_PERM_A, _PERM_B = _permutation_params(NUM_PERM)
_BIGRAM_MUL = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio odd constant: mixes the left token


@dataclass(frozen=True, slots=True)
class TextFingerprint:
    """What the dedup index stores and compares for one text.

    exact:      hex blake2b-128 of the normalised text (the exact-duplicate key).
    shingles:   number of distinct content shingles (0 for an empty text).
    signature:  NUM_PERM MinHash slots, SLOT_BITS bits each, little-endian uint16 bytes;
                empty when the text is too short for near matching.
    bands:      LSH band keys (hex), empty when the text is too short for near matching.
    numbers:    up to NUMBERS_KEPT smallest number-token hashes, sorted, little-endian uint32.
    number_count: distinct number tokens in the content.
    """

    exact: str
    shingles: int
    signature: bytes = b""
    bands: tuple[str, ...] = ()
    numbers: bytes = b""
    number_count: int = 0

    @property
    def near_eligible(self) -> bool:
        """Long enough for a near-duplicate estimate (else only url/exact levels apply)."""
        return bool(self.signature)


class DedupIndex(Protocol):
    """The shared index: one atomic check-and-insert per article."""

    def check_and_insert(self, article_id: str, url_key: str, fp: TextFingerprint) -> DedupVerdict:
        """Return this article's verdict and record it, atomically against all other workers.

        Asking again for the same article_id returns the verdict it got the first time.
        """
        ...


def normalise_text(text: str) -> str:
    """Case-, Unicode-form-, punctuation- and spacing-insensitive form of a text."""
    return " ".join(_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()))


def exact_hash(text: str) -> str:
    """Hex key of the normalised text: equal for texts differing only in case, form or spacing."""
    return hashlib.blake2b(normalise_text(text).encode(), digest_size=16).hexdigest()


def tokenised_lines(text: str) -> list[list[str]]:
    """Word tokens (NFKC, casefolded) of each non-empty line; joined they are `normalise_text`."""
    lines = unicodedata.normalize("NFKC", text).casefold().split("\n")
    return [tokens for tokens in map(_TOKEN.findall, lines) if tokens]


def content_lines(lines: list[list[str]]) -> list[list[str]]:
    """The content lines (>= CONTENT_LINE_MIN_WORDS words), or every line if they are few."""
    content = [tokens for tokens in lines if len(tokens) >= CONTENT_LINE_MIN_WORDS]
    total = sum(max(0, len(t) - SHINGLE_WORDS + 1) for t in lines)
    kept = sum(len(t) - SHINGLE_WORDS + 1 for t in content)
    if kept >= MIN_SHINGLES and kept >= CONTENT_MIN_SHARE * total:
        return content
    return lines


_TOKEN_HASHES: dict[str, int] = {}
# News vocabulary repeats: caching word hashes halves fingerprint time. 500k words (~60 MB) is
# several days of a large feed set's vocabulary; the cache is simply cleared when full.
_TOKEN_CACHE_MAX = 500_000


def _token_hashes(lines: list[list[str]]) -> dict[str, int]:
    """The word-hash cache, guaranteed to hold every token of `lines`."""
    cache = _TOKEN_HASHES
    missing = {t for tokens in lines for t in tokens}.difference(cache)
    if len(cache) + len(missing) > _TOKEN_CACHE_MAX:
        cache.clear()
        missing = {t for tokens in lines for t in tokens}
    for token in missing:
        cache[token] = xxhash.xxh64_intdigest(token.encode())
    return cache


def shingle_hashes(lines: list[list[str]]) -> npt.NDArray[np.uint64]:
    """Distinct 64-bit hashes of the word 2-shingles inside each line (never across lines)."""
    lookup = _token_hashes(lines).__getitem__
    parts: list[npt.NDArray[np.uint64]] = []
    for tokens in lines:
        if len(tokens) < SHINGLE_WORDS:
            continue
        words = np.fromiter(map(lookup, tokens), dtype=np.uint64, count=len(tokens))
        # A 2-shingle's hash mixes its left word (times an odd constant) with its right word;
        # uint64 arithmetic wraps, which is the intent.
        parts.append(words[:-1] * _BIGRAM_MUL ^ words[1:])
    if not parts:
        return np.empty(0, dtype=np.uint64)
    return np.unique(np.concatenate(parts))


def minhash(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
    """NUM_PERM minima of multiply-shift hashes (top 32 bits of a*x+b mod 2^64), vectorised."""
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps mod 2^64: that is the hash
        mixed = np.multiply.outer(_PERM_A, hashes)
        mixed += _PERM_B[:, None]
    minima: npt.NDArray[np.uint32] = (mixed.min(axis=1) >> np.uint64(32)).astype(np.uint32)
    return minima


def band_keys(slots: npt.NDArray[np.uint32]) -> tuple[str, ...]:
    """LSH band keys: band index plus a 64-bit hash of the band's ROWS full 32-bit minima."""
    keys = []
    for band in range(BANDS):
        chunk = slots[band * ROWS : (band + 1) * ROWS].tobytes()
        keys.append(f"{band:02d}{xxhash.xxh64_hexdigest(chunk)}")
    return tuple(keys)


def number_sketch(text: str) -> tuple[bytes, int]:
    """Bottom-NUMBERS_KEPT hashes of the distinct numbers in the text, and how many there are.

    A number keeps its separators ("8,215", "0.6"), so two reports differ in every figure
    that changed, not only in the digits around a comma.
    """
    numbers = set(_NUMBER.findall(text))
    hashes = sorted(xxhash.xxh32_intdigest(n.encode()) for n in numbers)
    kept = hashes[:NUMBERS_KEPT]
    return struct.pack(f"<{len(kept)}I", *kept), len(numbers)


def fingerprint_text(text: str) -> TextFingerprint:
    """The dedup fingerprint of one article text (pure and deterministic across machines)."""
    all_lines = tokenised_lines(text)
    # Same string as normalise_text(text), without tokenising twice.
    normalised = " ".join(token for tokens in all_lines for token in tokens)
    exact = hashlib.blake2b(normalised.encode(), digest_size=16).hexdigest()
    lines = content_lines(all_lines)
    hashes = shingle_hashes(lines)
    if hashes.size < MIN_SHINGLES:
        return TextFingerprint(exact=exact, shingles=int(hashes.size))
    slots = minhash(hashes)
    numbers, number_count = number_sketch(text)
    return TextFingerprint(
        exact=exact,
        shingles=int(hashes.size),
        signature=(slots & _SLOT_MASK).astype("<u2").tobytes(),
        bands=band_keys(slots),
        numbers=numbers,
        number_count=number_count,
    )


# --- the decision (reference implementation; the Lua script mirrors it) ------------------------


def estimate_overlap(a: TextFingerprint, b: TextFingerprint) -> tuple[float, float]:
    """(Jaccard, containment of the smaller in the larger) estimated from the two signatures."""
    sa = np.frombuffer(a.signature, dtype="<u2")
    sb = np.frombuffer(b.signature, dtype="<u2")
    jaccard = float(np.count_nonzero(sa == sb)) / NUM_PERM
    return jaccard, containment_from_jaccard(jaccard, a.shingles, b.shingles)


def containment_from_jaccard(jaccard: float, size_a: int, size_b: int) -> float:
    """|A∩B| / min(|A|,|B|) given J = |A∩B|/|A∪B|: |A∩B| = J/(1+J) * (|A|+|B|), capped at 1."""
    smaller = min(size_a, size_b)
    if smaller <= 0:
        return 0.0
    return min(1.0, jaccard / (1.0 + jaccard) * (size_a + size_b) / smaller)


def numbers_contained(a: TextFingerprint, b: TextFingerprint) -> float | None:
    """Share of the smaller set of numbers found in the other; None when too few to judge."""
    if min(a.number_count, b.number_count) < THRESHOLDS.numbers_min:
        return None
    na = set(struct.unpack(f"<{len(a.numbers) // 4}I", a.numbers))
    nb = set(struct.unpack(f"<{len(b.numbers) // 4}I", b.numbers))
    if a.number_count <= NUMBERS_KEPT and b.number_count <= NUMBERS_KEPT:
        return len(na & nb) / min(len(na), len(nb))  # both sketches are the full sets: exact
    # Bottom-k estimate: among the k smallest of the union, the share in both is ~Jaccard.
    union = sorted(na | nb)[:NUMBERS_KEPT]
    jaccard = sum(1 for h in union if h in na and h in nb) / len(union)
    return containment_from_jaccard(jaccard, a.number_count, b.number_count)


def near_duplicate_score(a: TextFingerprint, b: TextFingerprint) -> float | None:
    """The similarity that makes `a` and `b` near duplicates, or None when they are not."""
    if not (a.near_eligible and b.near_eligible):
        return None
    jaccard, containment = estimate_overlap(a, b)
    if jaccard < THRESHOLDS.jaccard and containment < THRESHOLDS.containment:
        return None
    shared_numbers = numbers_contained(a, b)
    if shared_numbers is not None and shared_numbers < THRESHOLDS.numbers_containment:
        return None
    return max(jaccard, containment)
