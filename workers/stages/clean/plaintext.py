"""Already-plain text input (a scraped page's text): paragraphs and the headline out of it."""

from __future__ import annotations

import re

from workers.stages.clean.text import normalise_space

# A headline is short; 25 words covers long headlines while excluding a first story paragraph.
TITLE_MAX_WORDS = 25
# Breadcrumbs in front of a headline ("Home World ...") are a few short words.
BREADCRUMB_MAX_WORDS = 5
# A title made up from the first sentence is cut to this many characters.
FALLBACK_TITLE_CHARS = 120

_BLANK_LINE = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"[.!?…。！？]['’\"”»)]*$")
_FIRST_SENTENCE = re.compile(r"^(.{20,}?[.!?。！？])(?:\s|$)")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain text: blocks between blank lines, or lines when there are none."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    out: list[str] = []
    for block in blocks:
        # Inside a block, single newlines are hard wraps of one paragraph, except when every line
        # ends a sentence or is a short label (a caption, a credit), which stay separate lines.
        lines = [normalise_space(line) for line in block.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        if len(lines) > 1 and all(
            _SENTENCE_END.search(line) or len(line.split()) <= 8 for line in lines
        ):
            out.extend(lines)
        else:
            out.append(" ".join(lines))
    return out


def _is_headline(line: str) -> bool:
    return len(line.split()) <= TITLE_MAX_WORDS and not _SENTENCE_END.search(line)


def take_title(paragraphs: list[str]) -> tuple[str, list[str]]:
    """Split a scraped text into its headline and the rest.

    The headline is the first short unpunctuated line; when the next line repeats the end of it
    ("Home World Trump and Putin ..." then "Trump and Putin ..."), the first was a breadcrumb
    glued to the headline and the second is the clean headline. Without a headline line, the
    first sentence stands in as the title and the text is kept whole.
    """
    if not paragraphs:
        return "", []
    first = paragraphs[0]
    if len(paragraphs) > 1:
        second = paragraphs[1]
        extra = len(first.split()) - len(second.split())
        if (
            _is_headline(second)
            and first != second
            and first.endswith(second)
            and 0 < extra <= BREADCRUMB_MAX_WORDS
        ):
            return second, paragraphs[2:]
    if _is_headline(first) and len(paragraphs) > 1:
        rest = paragraphs[1:]
        if rest and rest[0] == first:
            rest = rest[1:]
        return first, rest
    match = _FIRST_SENTENCE.match(first)
    title = match.group(1) if match else first
    return title[:FALLBACK_TITLE_CHARS].strip(), paragraphs
