"""The main text of an HTML page: a learned block classifier, with trafilatura's text and the
publisher's JSON-LD articleBody as fallbacks.

The page is cut into text blocks (`blocks`), each described by layout and wording features
(`block_features`: size, link density, tag, ancestors, class/id words, position, container,
JSON-LD membership, the paragraph filter's verdict, neighbours); the shipped tree ensemble
(`block_classifier`) gives each block a story probability, and the blocks at or above
STORY_THRESHOLD are the text. trafilatura (`trafilatura_text`) runs only when the classifier
keeps little, and wins when it finds more. Publishers' JSON-LD articleBody is exact when
present, but often truncated or missing paragraph breaks, so it only wins when the chosen text
fell short of it. Numbers and how they were measured: docs/extraction.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from lxml.html import HtmlElement

from workers.stages.clean.block_classifier import story_probabilities
from workers.stages.clean.block_features import block_features
from workers.stages.clean.blocks import MAX_TEXT_CHARS, Block, page_blocks
from workers.stages.clean.boilerplate import furniture_flags
from workers.stages.clean.dom_prune import prune_furniture
from workers.stages.clean.html import parse_html
from workers.stages.clean.metadata import PageMetadata
from workers.stages.clean.plaintext import split_paragraphs
from workers.stages.clean.text import word_units
from workers.stages.clean.trafilatura_text import extract_with_trafilatura

# The JSON-LD body replaces the extracted text when the extractor got less than this share of it:
# below ~60% the extractor has missed whole parts (lazy-loaded paragraphs, JS templates).
JSONLD_WINS_BELOW = 0.6
# A JSON-LD body shorter than this is a teaser or a stub, not the story.
JSONLD_MIN_WORDS = 50


def _jsonld_paragraphs(body: str) -> list[str]:
    if "<" in body and ">" in body:
        # Some CMSs put the body's HTML into articleBody; read its text paragraph by paragraph.
        tree = parse_html(f"<html><body>{body}</body></html>")
        if tree is not None:
            blocks = [
                " ".join(el.text_content().split()) for el in tree.iter("p", "h2", "h3", "li")
            ]
            blocks = [b for b in blocks if b]
            if blocks:
                return blocks
    return split_paragraphs(body)


# Blocks whose story probability reaches this are the text. Cross-validated by site on the dev
# pages (5 folds, no trafilatura feature): 0.3 F1 0.9389, 0.4 0.9403, 0.5 0.9400.
STORY_THRESHOLD = 0.4
# When the classifier keeps fewer words than this, the page is one it does not understand (a
# template unlike any it was trained on, or a page built by scripts): trafilatura is run and
# its text wins when it is longer. See docs/extraction.md for the cross-validated choice.
FALLBACK_BELOW_WORDS = 100


@dataclass(frozen=True, slots=True)
class MainTextInputs:
    """What the block classifier decides on: the page's blocks and their feature rows."""

    blocks: list[Block]
    rows: npt.NDArray[np.float64]  # (blocks, features)


def main_text_inputs(tree: HtmlElement, meta: PageMetadata) -> MainTextInputs:
    """The page's blocks and their features (the tree is left as it is)."""
    blocks = page_blocks(tree)
    furniture = furniture_flags([block.text for block in blocks], meta.authors)
    return MainTextInputs(
        blocks, block_features(blocks, meta.title or "", meta.jsonld_body, furniture)
    )


def choose_paragraphs(
    inputs: MainTextInputs,
    probabilities: list[float],
    fallback: Callable[[], list[str]],
    jsonld_body: str | None,
) -> list[str]:
    """The story's blocks by the classifier's probabilities, or a fallback (see the constants)."""
    chosen = [
        block.text
        for block, probability in zip(inputs.blocks, probabilities, strict=True)
        if probability >= STORY_THRESHOLD
    ]
    chosen_words = word_units(" ".join(chosen))
    # No fallback on pages cut at MAX_TEXT_CHARS: trafilatura would take seconds on them.
    if chosen_words < FALLBACK_BELOW_WORDS and _text_chars(inputs) <= MAX_TEXT_CHARS:
        extracted = fallback()
        if word_units(" ".join(extracted)) > chosen_words:
            chosen = extracted
    return _prefer_jsonld(chosen, jsonld_body)


def _text_chars(inputs: MainTextInputs) -> int:
    if not inputs.blocks:
        return 0
    last = inputs.blocks[-1]
    return last.start_char + len(last.text)


def trafilatura_paragraphs(tree: HtmlElement, url: str | None) -> list[str]:
    """trafilatura's text of the page after furniture pruning (prunes `tree` in place)."""
    prune_furniture(tree)
    return extract_with_trafilatura(tree, url)


def extract_paragraphs(tree: HtmlElement, url: str | None, meta: PageMetadata) -> list[str]:
    """The page's main-text blocks, in reading order, before boilerplate filtering."""
    inputs = main_text_inputs(tree, meta)
    return choose_paragraphs(
        inputs,
        story_probabilities(inputs.rows),
        lambda: trafilatura_paragraphs(tree, url),
        meta.jsonld_body,
    )


def _prefer_jsonld(extracted: list[str], jsonld_body: str | None) -> list[str]:
    """The JSON-LD articleBody's paragraphs instead of `extracted` when those look truncated."""
    if not jsonld_body:
        return extracted
    fallback = _jsonld_paragraphs(jsonld_body)
    fallback_words = word_units(" ".join(fallback))
    if fallback_words < JSONLD_MIN_WORDS:
        return extracted
    if word_units(" ".join(extracted)) < JSONLD_WINS_BELOW * fallback_words:
        return fallback
    # The extractor read the same words out of the JSON-LD itself but lost its paragraph breaks.
    if len(fallback) > len(extracted) and " ".join(extracted).split() == " ".join(fallback).split():
        return fallback
    return extracted
