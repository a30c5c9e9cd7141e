"""The numbers the block classifier reads for each text block of a page.

Per block: its size and shape (words, sentence punctuation, link density), its tag and where it
sits (depth, ancestor tags, class/id word groups, position on the page, after the headline or
not), how much of the page's text its parent container holds, whether the publisher's JSON-LD
articleBody contains it, whether the paragraph filter calls it furniture, and the same few facts
about its neighbours. Every feature is a property of
page layout or wording that holds across sites; none names a site.

FEATURE_NAMES lists them in order; the shipped model records the list it was trained on and
refuses to run against another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from workers.stages.clean.blocks import (
    ANCESTOR_TAGS,
    CLASS_GROUP_NAMES,
    Block,
)

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?。！？]")
_TAG_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("p", frozenset({"p"})),
    ("li", frozenset({"li"})),
    ("h1", frozenset({"h1"})),
    ("h2", frozenset({"h2"})),
    ("h3", frozenset({"h3"})),
    ("h4_6", frozenset({"h4", "h5", "h6"})),
    ("cell", frozenset({"td", "th"})),
    ("blockquote", frozenset({"blockquote"})),
    ("pre", frozenset({"pre"})),
    ("div", frozenset({"div", "section", "article", "main", "body", "center"})),
    ("definition", frozenset({"dd", "dt"})),
    ("caption", frozenset({"figcaption", "caption", "figure"})),
)
_PER_BLOCK = (
    "log_words",
    "log_chars",
    "link_share",
    "log_links",
    "sentence_ends_per_word",
    "commas_per_word",
    "ends_like_sentence",
    "digit_share",
    "capitalised_share",
    "mean_word_chars",
    *(f"tag_{name}" for name, _ in _TAG_KINDS),
    "depth",
    *(f"in_{tag}" for tag in ANCESTOR_TAGS),
    *(f"class_{name}" for name in CLASS_GROUP_NAMES),
    *(f"nearest_class_{name}" for name in CLASS_GROUP_NAMES),
    "hidden",
    "position",
    "char_position",
    "after_headline",
    "is_headline",
    "parent_share",
    "grandparent_share",
    "in_best_container",
    "in_jsonld",
    "furniture",
)
_NEIGHBOUR = ("log_words", "link_share", "parent_share")
_WINDOWED = ("log_words", "link_share")
_PAGE = ("page_log_words", "page_log_blocks", "jsonld_found")
FEATURE_NAMES: tuple[str, ...] = (
    *_PER_BLOCK,
    *(f"prev_{name}" for name in _NEIGHBOUR),
    *(f"next_{name}" for name in _NEIGHBOUR),
    *(f"window_{name}" for name in _WINDOWED),
    *_PAGE,
)
_NEIGHBOUR_INDEX = tuple(_PER_BLOCK.index(name) for name in _NEIGHBOUR)
_WINDOW_INDEX = tuple(_PER_BLOCK.index(name) for name in _WINDOWED)
# Neighbours on each side averaged into the window features: a paragraph among paragraphs.
WINDOW = 2


def token_key(text: str) -> str:
    """The text as its word tokens joined by single spaces, framed by spaces for `in` tests."""
    return " " + " ".join(_WORD.findall(text)) + " "


def _shares(blocks: Sequence[Block], words: Sequence[int]) -> tuple[list[float], list[float]]:
    """Each block's parent and grandparent container's share of the page's words."""
    parent_words: dict[int, int] = {}
    grand_words: dict[int, int] = {}
    parents: list[tuple[int, int]] = []
    # lxml makes a new proxy object per access unless one is alive: the containers are kept
    # here so that id() names one element for the whole computation.
    alive: list[object] = []
    for block, count in zip(blocks, words, strict=True):
        parent = block.owner.getparent()
        grand = parent.getparent() if parent is not None else None
        alive.append(parent)
        alive.append(grand)
        pid = id(parent)
        gid = id(grand)
        parent_words[pid] = parent_words.get(pid, 0) + count
        grand_words[gid] = grand_words.get(gid, 0) + count
        parents.append((pid, gid))
    total = sum(words) or 1
    return (
        [parent_words[pid] / total for pid, _ in parents],
        [grand_words[gid] / total for _, gid in parents],
    )


def _best_container(blocks: Sequence[Block], words: Sequence[int]) -> list[float]:
    """1.0 for blocks inside the element that gathers the most unlinked paragraph text.

    Readability's idea: every block of running text (10+ words, mostly unlinked) scores its
    words to its parent and half to its grandparent; the highest-scoring element is the story's
    container.
    """
    scores: dict[int, float] = {}
    elements: dict[int, object] = {}
    for block, count in zip(blocks, words, strict=True):
        if count < 10 or block.link_chars * 2 > len(block.text):
            continue
        parent = block.owner.getparent()
        if parent is None:
            continue
        scores[id(parent)] = scores.get(id(parent), 0.0) + count
        elements[id(parent)] = parent
        grand = parent.getparent()
        if grand is not None:
            scores[id(grand)] = scores.get(id(grand), 0.0) + count / 2
            elements[id(grand)] = grand
    if not scores:
        return [0.0] * len(blocks)
    best = elements[max(scores, key=scores.__getitem__)]
    members = list(best.iter())  # type: ignore[attr-defined]  # alive, so their ids are theirs
    inside = {id(element) for element in members}
    return [1.0 if id(block.owner) in inside else 0.0 for block in blocks]


def block_features(
    blocks: Sequence[Block],
    headline: str,
    jsonld_body: str | None,
    furniture: Sequence[bool],
) -> list[list[float]]:
    """One feature row per block, in FEATURE_NAMES order."""
    tokens_of = [_WORD.findall(block.text) for block in blocks]
    words = [len(tokens) for tokens in tokens_of]
    total_words = sum(words)
    total_chars = blocks[-1].start_char + len(blocks[-1].text) if blocks else 0
    parent_share, grand_share = _shares(blocks, words)
    best = _best_container(blocks, words)
    jsonld_key = token_key(jsonld_body) if jsonld_body else ""
    headline_key = token_key(headline) if headline else ""
    headline_at = -1
    rows: list[list[float]] = []
    count = len(blocks)
    for i, block in enumerate(blocks):
        text = block.text
        n_words = words[i]
        chars = len(text)
        key = " " + " ".join(tokens_of[i]) + " "  # token_key(text), from the tokens at hand
        is_headline = bool(headline_key.strip()) and key == headline_key
        if is_headline and headline_at < 0:
            headline_at = i
        tokens = text.split()
        row: list[float] = [
            math.log1p(n_words),
            math.log1p(chars),
            block.link_chars / chars if chars else 0.0,
            math.log1p(block.links),
            len(_SENTENCE_END.findall(text)) / (n_words or 1),
            text.count(",") / (n_words or 1),
            1.0 if text[-1:] in ".!?:;\"'”»)。！？" else 0.0,
            sum(map(str.isdigit, text)) / (chars or 1),
            sum(1 for t in tokens if t[:1].isupper()) / (len(tokens) or 1),
            chars / (len(tokens) or 1),
        ]
        row.extend(1.0 if block.tag in tags else 0.0 for _, tags in _TAG_KINDS)
        row.append(float(block.depth))
        row.extend(1.0 if block.ancestors >> bit & 1 else 0.0 for bit in range(len(ANCESTOR_TAGS)))
        row.extend(float(g) for g in block.groups)
        row.extend(
            1.0 if block.nearest_groups >> bit & 1 else 0.0 for bit in range(len(CLASS_GROUP_NAMES))
        )
        row.extend(
            [
                1.0 if block.hidden else 0.0,
                i / count,
                block.start_char / (total_chars or 1),
                1.0 if 0 <= headline_at < i else 0.0,
                1.0 if is_headline else 0.0,
                parent_share[i],
                grand_share[i],
                best[i],
                1.0 if n_words and jsonld_key and key in jsonld_key else 0.0,
                1.0 if furniture[i] else 0.0,
            ]
        )
        rows.append(row)
    empty = [0.0] * len(_NEIGHBOUR)
    page = [
        math.log1p(total_words),
        math.log1p(count),
        1.0 if jsonld_key.strip() else 0.0,
    ]
    out: list[list[float]] = []
    for i, row in enumerate(rows):
        prev = [rows[i - 1][j] for j in _NEIGHBOUR_INDEX] if i > 0 else empty
        nxt = [rows[i + 1][j] for j in _NEIGHBOUR_INDEX] if i + 1 < count else empty
        lo, hi = max(0, i - WINDOW), min(count, i + WINDOW + 1)
        window = [sum(rows[k][j] for k in range(lo, hi)) / (hi - lo) for j in _WINDOW_INDEX]
        out.append(row + prev + nxt + window + page)
    return out
