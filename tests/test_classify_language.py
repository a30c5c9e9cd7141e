"""Language detection reports ISO 639-1 codes, and None when the text is too short to tell."""

from __future__ import annotations

import pytest

from workers.stages.classify.language import detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The government announced new measures on Tuesday to curb rising inflation.", "en"),
        ("Le gouvernement a annoncé mardi de nouvelles mesures contre l'inflation.", "fr"),
        ("Die Regierung hat am Dienstag neue Maßnahmen gegen die Inflation angekündigt.", "de"),
        ("El gobierno anunció el martes nuevas medidas contra la inflación.", "es"),
        ("Правительство во вторник объявило о новых мерах по борьбе с инфляцией.", "ru"),
        ("Il governo ha annunciato martedì nuove misure contro l'inflazione.", "it"),
        ("Rząd ogłosił we wtorek nowe środki w walce z rosnącą inflacją.", "pl"),
    ],
)
def test_detects_the_language_of_a_news_sentence(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_too_little_text_gives_no_language() -> None:
    assert detect_language("Hi there") is None
    assert detect_language("") is None
