"""The article's language: detected from the text, the page's declaration only as a fallback."""

from __future__ import annotations

from workers.stages.clean.language import detect_language

ENGLISH = (
    "The regional transport authority said on Monday that it would add forty buses to its night "
    "network next year, after ridership rose for the third year in a row. Officials said the "
    "money would come from a fuel levy approved last spring, and that drivers had already been "
    "hired for most of the new routes."
)
GERMAN = (
    "Der Stadtrat hat am Dienstagabend mit großer Mehrheit beschlossen, die Straßenbahnlinie bis "
    "zum neuen Wohngebiet im Norden zu verlängern. Die Bauarbeiten sollen im kommenden Frühjahr "
    "beginnen und rund zwei Jahre dauern, teilte die Verwaltung mit."
)


def test_text_in_the_declared_language_keeps_the_declaration() -> None:
    assert detect_language(ENGLISH, "en") == "en"
    assert detect_language(GERMAN, "de") == "de"


def test_a_wrong_declaration_is_overruled_by_the_text() -> None:
    assert detect_language(ENGLISH, "de") == "en"
    assert detect_language(GERMAN, "en") == "de"


def test_without_a_declaration_the_text_decides() -> None:
    assert detect_language(GERMAN, None) == "de"


def test_too_short_a_text_falls_back_to_the_declaration() -> None:
    assert detect_language("Kurz und knapp.", "de") == "de"
    assert detect_language("Short.", None) is None
