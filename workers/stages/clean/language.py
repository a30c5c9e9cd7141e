"""The article's language: detected from its text when there is enough of it, else as declared."""

from __future__ import annotations

from functools import cache
from typing import Any

from workers.stages.clean.text import word_units

# py3langid is reliable from a few sentences on; below ~20 words the declared language is safer.
MIN_DETECT_WORDS = 20
# Probability (normalised over its 97 languages) below which the detector is not trusted.
MIN_CONFIDENCE = 0.8
# The first 1,500 characters (~250 words) decide: more text rarely changes the answer and the
# cost grows with it (~1 ms per 1,000 characters).
_SAMPLE_CHARS = 1_500


@cache
def _identifier() -> Any:
    # Loaded once per process on first use (~0.8 s); the model ships inside the package.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, declared: str | None) -> str | None:
    """ISO 639-1 code of `text`; the declared code when the text is too short to tell."""
    if word_units(text) >= MIN_DETECT_WORDS:
        code, probability = _identifier().classify(text[:_SAMPLE_CHARS])
        if float(probability) >= MIN_CONFIDENCE:
            return str(code)
    return declared
