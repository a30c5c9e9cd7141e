"""The default classifier: no labelled data, the bundled taxonomy, clear-cut articles."""

from __future__ import annotations

import pytest

from workers.models import UNCERTAIN
from workers.stages.classify import ClassifierProvider

CLEAR_CUT = [
    (
        "sport",
        "Liverpool beat Arsenal 3-1 to go top of the Premier League",
        "Two second-half goals from the striker sealed the win at Anfield, and the manager "
        "praised his players after the match.",
    ),
    (
        "business",
        "Shares slide as bank's quarterly profit misses forecasts",
        "The bank's stock fell 6% after profits dropped and it warned that lower interest rates "
        "would hurt lending margins; investors sold shares across the sector.",
    ),
    (
        "technology",
        "New smartphone chip doubles battery life",
        "The chipmaker said its new processor for smartphones and laptops runs software twice as "
        "fast while using half the power.",
    ),
    (
        "health",
        "Hospitals struggle as flu outbreak spreads",
        "Doctors urged patients to get vaccinated as a flu virus outbreak filled hospital wards "
        "and health officials warned of a hard winter.",
    ),
    (
        "entertainment",
        "Film star wins best actress at the Oscars",
        "The actress won the Academy Award for her role in the drama, which also took the prize "
        "for best film at the ceremony in Hollywood.",
    ),
    (
        "politics",
        "Prime minister calls snap election",
        "The prime minister called an early general election, and opposition parties began "
        "campaigning for votes after parliament was dissolved.",
    ),
    (
        "science",
        "Astronomers discover water on distant planet",
        "Scientists using a NASA space telescope found water vapour in the atmosphere of a "
        "planet orbiting another star, the research team reported.",
    ),
]


@pytest.fixture(scope="module")
def provider() -> ClassifierProvider:
    return ClassifierProvider()


@pytest.mark.parametrize(("label", "title", "text"), CLEAR_CUT, ids=[c[0] for c in CLEAR_CUT])
def test_default_model_labels_a_clear_cut_article(
    provider: ClassifierProvider, label: str, title: str, text: str
) -> None:
    result = provider.current().classify(title, text)
    assert result.label == label, result.scores


def test_every_answer_carries_model_version_confidence_and_language(
    provider: ClassifierProvider,
) -> None:
    _, title, text = CLEAR_CUT[0]
    result = provider.current().classify(title, text)
    assert result.model_version == provider.current().version
    assert result.model_version.startswith("zeroshot-")
    assert 0.0 < result.confidence <= 1.0
    assert result.language == "en"
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-2)


def test_a_threshold_above_any_confidence_makes_every_answer_uncertain() -> None:
    provider = ClassifierProvider(threshold=1.01)
    _, title, text = CLEAR_CUT[0]
    result = provider.current().classify(title, text)
    assert result.label == UNCERTAIN
    assert result.uncertain
    assert max(result.scores, key=result.scores.__getitem__) == "sport"
