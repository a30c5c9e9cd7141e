"""Small text helpers shared by the clean stage's modules."""

from __future__ import annotations

import html
import re
import unicodedata

_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def normalise_space(text: str) -> str:
    """One space between words, no leading/trailing space, HTML entities left in meta decoded."""
    if "&" in text:
        text = html.unescape(text)
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def word_units(text: str) -> int:
    """Length of a text in words, counting two CJK characters as one word.

    Chinese and Japanese are written without spaces, so a whitespace count would call every such
    story "too short"; two characters per word is the usual rough equivalence.
    """
    cjk = len(_CJK.findall(text))
    spaced = len(_CJK.sub(" ", text).split())
    return spaced + cjk // 2
