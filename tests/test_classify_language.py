"""Language detection reports ISO 639-1 codes, and None when the text is too short to tell."""

from __future__ import annotations

import pytest

from workers.stages.classify.language import detect_language, detect_languages, known_language

SENTENCES = [
    ("The government announced new measures on Tuesday to curb rising inflation.", "en"),
    ("Le gouvernement a annoncé mardi de nouvelles mesures contre l'inflation.", "fr"),
    ("Die Regierung hat am Dienstag neue Maßnahmen gegen die Inflation angekündigt.", "de"),
    ("El gobierno anunció el martes nuevas medidas contra la inflación.", "es"),
    ("Правительство во вторник объявило о новых мерах по борьбе с инфляцией.", "ru"),
    ("Il governo ha annunciato martedì nuove misure contro l'inflazione.", "it"),
    ("Rząd ogłosił we wtorek nowe środki w walce z rosnącą inflacją.", "pl"),
]


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


def test_many_texts_at_once_get_the_same_answers_as_one_at_a_time() -> None:
    """The lock-step batch walk is py3langid's model, not an approximation of it."""
    texts = [text for text, _ in SENTENCES] * 3 + [
        "Hi there",
        "",
        "SHOUTING HEADLINE ABOUT THE ELECTION RESULTS IN THE CAPITAL CITY",
        "Stocks fell. " * 60,  # longer than the sample: only its start is read
        "東京株式市場で日経平均株価は大幅に値上がりし、終値は前日より上昇しました。",
        "12345 67890 !!! ???",
    ]
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages(texts)[: len(SENTENCES)] == [code for _, code in SENTENCES]


def test_a_language_the_caller_knows_is_kept_and_only_the_rest_detected() -> None:
    texts = [SENTENCES[0][0], SENTENCES[1][0]]
    assert known_language(texts, ["de", None]) == ["de", "fr"]
    assert known_language(texts, None) == ["en", "fr"]
