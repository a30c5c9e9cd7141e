"""Confidence and the uncertain outcome: below the threshold the label is "uncertain"."""

from __future__ import annotations

import numpy as np

from workers.models import UNCERTAIN
from workers.settings import Settings
from workers.stages.classify.decision import decide, softmax

LABELS = ("world", "sport", "business")


def test_top_label_wins_when_its_probability_reaches_the_threshold() -> None:
    result = decide(
        LABELS,
        np.array([0.2, 0.5, 0.3], np.float32),
        threshold=0.5,
        language="en",
        model_version="m1",
    )
    assert (result.label, result.confidence, result.model_version) == ("sport", 0.5, "m1")


def test_below_the_threshold_the_label_is_uncertain_but_scores_are_kept() -> None:
    result = decide(
        LABELS,
        np.array([0.3, 0.36, 0.34], np.float32),
        threshold=0.4,
        language=None,
        model_version="m1",
    )
    assert result.label == UNCERTAIN
    assert result.confidence == 0.36
    assert result.scores["sport"] == 0.36


def test_uncertain_threshold_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({"NEWSFLOW_UNCERTAIN_THRESHOLD": "0.55"}).uncertain_threshold == 0.55
    assert 0.0 < Settings().uncertain_threshold < 0.5


def test_softmax_rows_sum_to_one() -> None:
    probs = softmax(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32))
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0].argmax() == 2
