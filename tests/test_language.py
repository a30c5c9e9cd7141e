"""An article's language: detected from its text, the page's declaration as the fallback.

One detector serves both stages: the clean stage passes the page's declared language, the
classify stage keeps a language it is given and detects the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.stages import language
from workers.stages.language import detect_language, detect_languages, known_language

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
# One-sentence leads: long enough to tell (20 letters and more), short enough to be hard.
SENTENCES = [
    ("The government announced new measures on Tuesday to curb rising inflation.", "en"),
    ("Le gouvernement a annoncé mardi de nouvelles mesures contre l'inflation.", "fr"),
    ("Die Regierung hat am Dienstag neue Maßnahmen gegen die Inflation angekündigt.", "de"),
    ("El gobierno anunció el martes nuevas medidas contra la inflación.", "es"),
    ("Правительство во вторник объявило о новых мерах по борьбе с инфляцией.", "ru"),
    ("Il governo ha annunciato martedì nuove misure contro l'inflazione.", "it"),
    ("Rząd ogłosił we wtorek nowe środki w walce z rosnącą inflacją.", "pl"),
]
# Danish, but close enough to Norwegian that the detector is only ~0.7 sure.
DANISH_UNSURE = "Regeringen fremlagde et nyt forslag om skat i tirsdags."


@pytest.mark.parametrize(("text", "code"), SENTENCES)
def test_detects_the_language_of_a_one_sentence_lead(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_text_in_the_declared_language_keeps_the_declaration() -> None:
    assert detect_language(ENGLISH, "en") == "en"
    assert detect_language(GERMAN, "de") == "de"


def test_a_wrong_declaration_is_overruled_by_a_clear_text() -> None:
    assert detect_language(ENGLISH, "de") == "en"
    assert detect_language(GERMAN, "en") == "de"


def test_an_unsure_detection_is_reported_but_does_not_overrule_a_declaration() -> None:
    assert detect_language(DANISH_UNSURE) == "da"
    assert detect_language(DANISH_UNSURE, "no") == "no"


def test_too_short_a_text_falls_back_to_the_declaration_or_none() -> None:
    assert detect_language("Kurz und knapp.", "de") == "de"
    assert detect_language("Short.") is None
    assert detect_language("Hi there") is None
    assert detect_language("") is None


def test_a_text_no_language_fits_well_gives_none() -> None:
    assert detect_language("Bank rates rise again. Markets fall.") is None


def test_many_texts_at_once_get_the_same_answers_as_one_at_a_time() -> None:
    """The lock-step batch walk is py3langid's model, not an approximation of it."""
    texts = [text for text, _ in SENTENCES] * 3 + [
        ENGLISH,
        GERMAN,
        DANISH_UNSURE,
        "Hi there",
        "",
        "SHOUTING HEADLINE ABOUT THE ELECTION RESULTS IN THE CAPITAL CITY",
        "Stocks fell. " * 100,  # longer than the sample: only its start is read
        "東京株式市場で日経平均株価は大幅に値上がりし、終値は前日より上昇しました。",
        "12345 67890 !!! ???",
    ]
    declared = [None, "en", "de", "no"] * (len(texts) // 4) + [None] * (len(texts) % 4)
    assert len(texts) >= 16  # the batch path's minimum
    assert detect_languages(texts) == [detect_language(t) for t in texts]
    assert detect_languages(texts, declared) == [
        detect_language(t, d) for t, d in zip(texts, declared, strict=True)
    ]
    assert detect_languages(texts)[: len(SENTENCES)] == [code for _, code in SENTENCES]


def test_the_batch_path_is_in_use() -> None:
    """`_batch_model` gives None (one text at a time, 5-7x slower) if py3langid's tables are not
    the layout it reads."""
    assert language._batch_model() is not None


def test_a_language_the_caller_knows_is_kept_and_only_the_rest_detected() -> None:
    texts = [SENTENCES[0][0], SENTENCES[1][0]]
    assert known_language(texts, ["de", None]) == ["de", "fr"]
    assert known_language(texts, None) == ["en", "fr"]


def test_no_stage_keeps_a_language_detector_of_its_own() -> None:
    stages = Path(language.__file__).parent
    assert sorted(p.name for p in stages.rglob("language*.py")) == ["language.py"]
