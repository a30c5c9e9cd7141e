"""The numbers the block classifier reads for each text block of a page.

Per block: its size and shape (words, sentence punctuation, link density), its tag and where it
sits (depth, ancestor tags, class/id word groups, position on the page, after the headline or
not), how much of the page's text its parent container holds, whether the publisher's JSON-LD
articleBody contains it, whether the paragraph filter calls it furniture, and the same few facts
about its neighbours; and where it sits against the page's landmarks: its distance to the
headline, whether it comes after the comments began or outside the best container, whether it
is inside the element marked `itemprop=articleBody`, and how link-heavy and how fragmented its
containers are. Every feature is a property of
page layout or wording that holds across sites; none names a site.

FEATURE_NAMES lists them in order; the shipped model records the list it was trained on and
refuses to run against another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

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
    # Landmarks and containers (measured by by-site cross-validation: docs/extraction.md).
    "headline_distance",
    "headline_distance_blocks",
    "in_itemprop_body",
    "parent_link_share",
    "parent_log_blocks",
    "parent_mean_words",
    "grandparent_link_share",
    "grandparent_log_blocks",
    "grandparent_mean_words",
    "after_comment_start",
    "before_best_container",
    "after_best_container",
)
_NEIGHBOUR = ("log_words", "link_share", "parent_share")
_WINDOWED = ("log_words", "link_share")
_PAGE = ("page_log_words", "page_log_blocks", "jsonld_found", "best_container_share")
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
# Blocks this far before / after the headline are told apart; beyond, one value (the tree
# splits on a few distances, and a far block is far).
_HEADLINE_BEFORE = 50
_HEADLINE_AFTER = 200
_COMMENT_GROUP = CLASS_GROUP_NAMES.index("comment")
_FORM_BIT = 1 << ANCESTOR_TAGS.index("form")


def token_key(text: str) -> str:
    """The text as its word tokens joined by single spaces, framed by spaces for `in` tests."""
    return " " + " ".join(_WORD.findall(text)) + " "


def _containers(blocks: Sequence[Block]) -> tuple[list[object], list[object]]:
    """Each block's parent and grandparent element (None above the root), looked up once.

    lxml makes a new proxy object per access unless one is alive: these lists keep the
    containers alive while the features are computed, so that id() names one element.
    """
    parents = [block.owner.getparent() for block in blocks]
    grands = [parent.getparent() if parent is not None else None for parent in parents]
    return parents, grands


def _shares(
    parents: Sequence[object], grands: Sequence[object], words: Sequence[int]
) -> tuple[list[float], list[float]]:
    """Each block's parent and grandparent container's share of the page's words."""
    parent_words: dict[int, int] = {}
    grand_words: dict[int, int] = {}
    for parent, grand, count in zip(parents, grands, words, strict=True):
        pid = id(parent)
        gid = id(grand)
        parent_words[pid] = parent_words.get(pid, 0) + count
        grand_words[gid] = grand_words.get(gid, 0) + count
    total = sum(words) or 1
    return (
        [parent_words[id(parent)] / total for parent in parents],
        [grand_words[id(grand)] / total for grand in grands],
    )


def _best_container(
    blocks: Sequence[Block],
    parents: Sequence[object],
    grands: Sequence[object],
    words: Sequence[int],
) -> list[float]:
    """1.0 for blocks inside the element that gathers the most unlinked paragraph text.

    Readability's idea: every block of running text (10+ words, mostly unlinked) scores its
    words to its parent and half to its grandparent; the highest-scoring element is the story's
    container. Blocks under a comment-class element or inside a form do not score (readability
    weighs those classes down too): a busy comment thread outweighs a short post, and its
    wrapper would be taken for the story's container (CV F1 +0.0003 alone, more with the
    landmark features that read it).
    """
    scores: dict[int, float] = {}
    elements: dict[int, object] = {}
    for block, parent, grand, count in zip(blocks, parents, grands, words, strict=True):
        if count < 10 or block.link_chars * 2 > len(block.text):
            continue
        if block.groups[_COMMENT_GROUP] or block.ancestors & _FORM_BIT:
            continue
        if parent is None:
            continue
        scores[id(parent)] = scores.get(id(parent), 0.0) + count
        elements[id(parent)] = parent
        if grand is not None:
            scores[id(grand)] = scores.get(id(grand), 0.0) + count / 2
            elements[id(grand)] = grand
    if not scores:
        return [0.0] * len(blocks)
    best = elements[max(scores, key=scores.__getitem__)]
    members = list(best.iter())  # type: ignore[attr-defined]  # alive, so their ids are theirs
    inside = {id(element) for element in members}
    return [1.0 if id(block.owner) in inside else 0.0 for block in blocks]


def _container_stats(
    containers: Sequence[object], words: Sequence[int], blocks: Sequence[Block]
) -> tuple[list[float], list[float], list[float]]:
    """Per block, its container's link share (link characters over characters), log(1 +
    blocks in it) and mean words per block: a story's container holds long unlinked paragraphs,
    a teaser list's many short linked ones, whatever the single block looks like."""
    totals: dict[int, list[int]] = {}
    for container, count, block in zip(containers, words, blocks, strict=True):
        key = id(container)
        total = totals.get(key)
        if total is None:
            totals[key] = total = [0, 0, 0, 0]
        total[0] += len(block.text)
        total[1] += block.link_chars
        total[2] += 1
        total[3] += count
    link_share: list[float] = []
    log_blocks: list[float] = []
    mean_words: list[float] = []
    for container in containers:
        chars, link_chars, count, words_in = totals[id(container)]
        link_share.append(link_chars / (chars or 1))
        log_blocks.append(math.log1p(count))
        mean_words.append(words_in / count)
    return link_share, log_blocks, mean_words


def _itemprop_body(blocks: Sequence[Block]) -> list[bool]:
    """Whether each block is inside an element marked itemprop=articleBody (schema.org's own
    mark of the story's text, where the page's template sets it)."""
    root = blocks[0].owner.getroottree()
    marked = [
        element
        for element in root.iterfind(".//*[@itemprop]")
        if "articlebody" in (element.get("itemprop") or "").lower()
    ]
    if not marked:
        return [False] * len(blocks)
    members = [member for element in marked for member in element.iter()]  # kept alive: ids
    inside = {id(member) for member in members}
    return [id(block.owner) in inside for block in blocks]


# Column positions of FEATURE_NAMES, for filling the matrix a group of columns at a time.
_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
_TEXT_COLUMNS = slice(_COLUMN["log_words"], _COLUMN["mean_word_chars"] + 1)
_TAG_COLUMNS = slice(_COLUMN[f"tag_{_TAG_KINDS[0][0]}"], _COLUMN[f"tag_{_TAG_KINDS[-1][0]}"] + 1)
_ANCESTOR_COLUMNS = slice(_COLUMN[f"in_{ANCESTOR_TAGS[0]}"], _COLUMN[f"in_{ANCESTOR_TAGS[-1]}"] + 1)
_GROUP_COLUMNS = slice(
    _COLUMN[f"class_{CLASS_GROUP_NAMES[0]}"], _COLUMN[f"class_{CLASS_GROUP_NAMES[-1]}"] + 1
)
_NEAREST_COLUMNS = slice(
    _COLUMN[f"nearest_class_{CLASS_GROUP_NAMES[0]}"],
    _COLUMN[f"nearest_class_{CLASS_GROUP_NAMES[-1]}"] + 1,
)
# Each tag's one-hot row over _TAG_KINDS (all zeros for a tag of no kind).
_TAG_ROWS: dict[str, tuple[float, ...]] = {
    tag: tuple(1.0 if tag in tags else 0.0 for _, tags in _TAG_KINDS)
    for _, kind in _TAG_KINDS
    for tag in kind
}
_NO_TAG_ROW = (0.0,) * len(_TAG_KINDS)
_ASCII_DIGIT = re.compile(r"[0-9]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _digits(text: str) -> int:
    """How many characters of `text` are digits by str.isdigit (superscripts, other scripts'
    digits included): ASCII digits by one regex scan, only the non-ASCII runs char by char."""
    count = len(_ASCII_DIGIT.findall(text))
    if not text.isascii():
        count += sum(map(str.isdigit, "".join(_NON_ASCII.findall(text))))
    return count


def _bit_columns(values: list[int], width: int) -> npt.NDArray[np.float64]:
    """(blocks, width) matrix of 1.0/0.0: bit j of each value."""
    bits = np.asarray(values, dtype=np.int64)[:, None] >> np.arange(width) & 1
    return bits.astype(np.float64)


def block_features(
    blocks: Sequence[Block],
    headline: str,
    jsonld_body: str | None,
    furniture: Sequence[bool],
) -> npt.NDArray[np.float64]:
    """One feature row per block, in FEATURE_NAMES order: a (blocks, features) float matrix.

    The per-block text numbers are computed block by block (they read the text); everything
    else is filled a column group at a time with numpy (same values: flags, counts and the
    same divisions; the window sums add the same numbers in the same order).
    """
    count = len(blocks)
    matrix = np.zeros((count, len(FEATURE_NAMES)), dtype=np.float64)
    if not count:
        return matrix
    tokens_of = [_WORD.findall(block.text) for block in blocks]
    words = [len(tokens) for tokens in tokens_of]
    total_words = sum(words)
    total_chars = blocks[-1].start_char + len(blocks[-1].text)
    parents, grands = _containers(blocks)
    parent_share, grand_share = _shares(parents, grands, words)
    jsonld_key = token_key(jsonld_body) if jsonld_body else ""
    headline_tokens = _WORD.findall(headline) if headline else []
    headline_at = -1
    text_rows: list[tuple[float, ...]] = []
    is_headline: list[bool] = []
    in_jsonld: list[bool] = []
    for i, block in enumerate(blocks):
        text = block.text
        n_words = words[i]
        chars = len(text)
        # Equal token lists are equal token_key()s (tokens hold no spaces): no string built.
        headline_here = bool(headline_tokens) and tokens_of[i] == headline_tokens
        if headline_here and headline_at < 0:
            headline_at = i
        is_headline.append(headline_here)
        in_jsonld.append(
            bool(n_words and jsonld_key) and " " + " ".join(tokens_of[i]) + " " in jsonld_key
        )
        tokens = text.split()
        text_rows.append(
            (
                math.log1p(n_words),
                math.log1p(chars),
                block.link_chars / chars if chars else 0.0,
                math.log1p(block.links),
                len(_SENTENCE_END.findall(text)) / (n_words or 1),
                text.count(",") / (n_words or 1),
                1.0 if text[-1:] in ".!?:;\"'”»)。！？" else 0.0,
                _digits(text) / (chars or 1),
                sum(1 for t in tokens if t[:1].isupper()) / (len(tokens) or 1),
                chars / (len(tokens) or 1),
            )
        )
    matrix[:, _TEXT_COLUMNS] = text_rows
    matrix[:, _TAG_COLUMNS] = [_TAG_ROWS.get(block.tag, _NO_TAG_ROW) for block in blocks]
    matrix[:, _COLUMN["depth"]] = [block.depth for block in blocks]
    matrix[:, _ANCESTOR_COLUMNS] = _bit_columns(
        [block.ancestors for block in blocks], len(ANCESTOR_TAGS)
    )
    matrix[:, _GROUP_COLUMNS] = [block.groups for block in blocks]
    matrix[:, _NEAREST_COLUMNS] = _bit_columns(
        [block.nearest_groups for block in blocks], len(CLASS_GROUP_NAMES)
    )
    matrix[:, _COLUMN["hidden"]] = [block.hidden for block in blocks]
    matrix[:, _COLUMN["position"]] = np.arange(count) / count
    matrix[:, _COLUMN["char_position"]] = np.asarray(
        [block.start_char for block in blocks], dtype=np.int64
    ) / (total_chars or 1)
    if headline_at >= 0:
        matrix[headline_at + 1 :, _COLUMN["after_headline"]] = 1.0
    matrix[:, _COLUMN["is_headline"]] = is_headline
    matrix[:, _COLUMN["parent_share"]] = parent_share
    matrix[:, _COLUMN["grandparent_share"]] = grand_share
    best = np.asarray(_best_container(blocks, parents, grands, words))
    matrix[:, _COLUMN["in_best_container"]] = best
    matrix[:, _COLUMN["in_jsonld"]] = in_jsonld
    matrix[:, _COLUMN["furniture"]] = furniture

    # Landmarks: the headline, the first comment-class block, the best container's first and
    # last block (blocks before the story's start and after its end are rarely story).
    index = np.arange(count)
    if headline_at >= 0:
        matrix[:, _COLUMN["headline_distance"]] = (index - headline_at) / count
        matrix[:, _COLUMN["headline_distance_blocks"]] = np.clip(
            index - headline_at, -_HEADLINE_BEFORE, _HEADLINE_AFTER
        )
    else:
        matrix[:, _COLUMN["headline_distance"]] = -2.0
        matrix[:, _COLUMN["headline_distance_blocks"]] = -(_HEADLINE_BEFORE + 1)
    matrix[:, _COLUMN["in_itemprop_body"]] = _itemprop_body(blocks)
    for prefix, containers in (("parent", parents), ("grandparent", grands)):
        link_share, log_blocks, mean_words = _container_stats(containers, words, blocks)
        matrix[:, _COLUMN[f"{prefix}_link_share"]] = link_share
        matrix[:, _COLUMN[f"{prefix}_log_blocks"]] = log_blocks
        matrix[:, _COLUMN[f"{prefix}_mean_words"]] = mean_words
    comment = np.asarray([block.groups[_COMMENT_GROUP] > 0 for block in blocks])
    matrix[:, _COLUMN["after_comment_start"]] = (np.cumsum(comment) - comment) > 0
    inside = np.flatnonzero(best)
    if len(inside):
        matrix[:, _COLUMN["before_best_container"]] = np.clip(inside[0] - index, 0, None) / count
        matrix[:, _COLUMN["after_best_container"]] = np.clip(index - inside[-1], 0, None) / count
        best_words = sum(words[i] for i in inside)
        matrix[:, _COLUMN["best_container_share"]] = best_words / (total_words or 1)
    else:
        matrix[:, _COLUMN["before_best_container"]] = -1.0
        matrix[:, _COLUMN["after_best_container"]] = -1.0

    # The neighbours' numbers (zeros past either end) and the window means around each block.
    for name in _NEIGHBOUR:
        column = matrix[:, _COLUMN[name]]
        matrix[1:, _COLUMN[f"prev_{name}"]] = column[:-1]
        matrix[:-1, _COLUMN[f"next_{name}"]] = column[1:]
    window_sizes = np.minimum(count, index + WINDOW + 1) - np.maximum(0, index - WINDOW)
    for name in _WINDOWED:
        # Summed left to right as sum() did; the zero padding adds nothing (the values are
        # never negative, so no -0.0 can turn into 0.0).
        padded = np.concatenate([np.zeros(WINDOW), matrix[:, _COLUMN[name]], np.zeros(WINDOW)])
        total = padded[0:count].copy()
        for offset in range(1, 2 * WINDOW + 1):
            total += padded[offset : offset + count]
        matrix[:, _COLUMN[f"window_{name}"]] = total / window_sizes
    matrix[:, _COLUMN["page_log_words"]] = math.log1p(total_words)
    matrix[:, _COLUMN["page_log_blocks"]] = math.log1p(count)
    matrix[:, _COLUMN["jsonld_found"]] = 1.0 if jsonld_key.strip() else 0.0
    return matrix
