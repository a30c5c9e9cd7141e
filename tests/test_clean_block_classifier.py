"""The block classifier: the numpy tree evaluator, the shipped model file, and its answers on a
fixture page."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workers.stages.clean import body
from workers.stages.clean.block_classifier import read_ensemble, shipped_model
from workers.stages.clean.block_features import FEATURE_NAMES
from workers.stages.clean.html import parse_html
from workers.stages.clean.metadata import extract_metadata

PAGES = Path(__file__).parent / "pages" / "html"


def _stumps(names: list[str] | None = None) -> dict[str, Any]:
    """Two one-split trees: +1/-1 on feature 0 at 0.5, then +0.5/-0.5 on feature 1 at 2.0."""
    return {
        "feature": np.array([0, 0, 0, 1, 0, 0]),
        "threshold": np.array([0.5, 0, 0, 2.0, 0, 0]),
        "left": np.array([1, 0, 0, 4, 0, 0]),
        "right": np.array([2, 0, 0, 5, 0, 0]),
        "value": np.array([0, 1.0, -1.0, 0, 0.5, -0.5]),
        "is_leaf": np.array([False, True, True, False, True, True]),
        "missing_left": np.array([True, False, False, False, False, False]),
        "roots": np.array([0, 3]),
        "baseline": np.float64(0.25),
        "depth": np.int32(2),
        "info": np.str_(json.dumps({"feature_names": names or list(FEATURE_NAMES)})),
    }


def _row(first: float, second: float) -> list[float]:
    return [first, second] + [0.0] * (len(FEATURE_NAMES) - 2)


def test_evaluator_walks_every_tree_and_adds_the_leaves_to_the_baseline() -> None:
    trees = read_ensemble(_stumps())
    scores = trees.raw_scores([_row(0.0, 1.0), _row(1.0, 1.0), _row(1.0, 3.0)])
    assert scores.tolist() == [0.25 + 1.0 + 0.5, 0.25 - 1.0 + 0.5, 0.25 - 1.0 - 0.5]


def test_missing_values_go_where_the_node_says() -> None:
    trees = read_ensemble(_stumps())
    assert trees.raw_scores([_row(math.nan, 3.0)]).tolist() == [0.25 + 1.0 - 0.5]


def _walk_one_tree(trees: Any, root: int, row: list[float]) -> float:
    """A tree walked node by node from its root for one row: the evaluator's reference."""
    node = root
    while not trees.is_leaf[node]:
        value = row[trees.feature[node]]
        left = trees.missing_left[node] if math.isnan(value) else value <= trees.threshold[node]
        node = trees.left[node] if left else trees.right[node]
    return float(trees.value[node])


def test_the_shipped_trees_give_each_row_what_walking_each_tree_from_its_root_gives() -> None:
    """The level-by-level walk of all trees at once is the plain walk, missing values included."""
    html = (PAGES / "radio_news_bridge.html").read_text(encoding="utf-8")
    tree = parse_html(html)
    assert tree is not None
    rows = body.main_text_inputs(tree, extract_metadata(tree, None)).rows.tolist()
    rows[1][0] = rows[2][5] = rows[3][30] = math.nan  # missing values go where each node says
    trees = shipped_model()
    expected = [
        trees.baseline + sum(_walk_one_tree(trees, int(root), row) for root in trees.roots)
        for row in rows
    ]
    assert trees.raw_scores(rows).tolist() == pytest.approx(expected, rel=1e-12)


def test_probabilities_are_the_logistic_of_the_scores() -> None:
    trees = read_ensemble(_stumps())
    [probability] = trees.probabilities([_row(0.0, 1.0)])
    assert probability == pytest.approx(1 / (1 + math.exp(-1.75)))
    assert trees.probabilities([]) == []


def test_a_model_trained_on_other_features_is_refused() -> None:
    with pytest.raises(ValueError, match="retrain"):
        read_ensemble(_stumps(["log_words", "something_else"]))


def test_the_shipped_model_loads_and_names_its_training_data() -> None:
    model = shipped_model()
    assert tuple(model.info["feature_names"]) == FEATURE_NAMES
    assert "CC-BY-4.0" in model.info["trained_on"]
    assert len(model.roots) >= 10


def test_story_paragraphs_score_high_and_page_furniture_low() -> None:
    html = (PAGES / "radio_news_bridge.html").read_text(encoding="utf-8")
    tree = parse_html(html)
    assert tree is not None
    meta = extract_metadata(tree, None)
    inputs = body.main_text_inputs(tree, meta)
    scores = dict(
        zip(
            (b.text for b in inputs.blocks),
            shipped_model().probabilities(inputs.rows),
            strict=True,
        )
    )

    def score(start: str) -> float:
        return next(p for text, p in scores.items() if text.startswith(start))

    assert score("The city council voted 7-2") >= body.STORY_THRESHOLD
    assert score("Engineers told the council in March") >= body.STORY_THRESHOLD
    assert score("Port workers end strike") < body.STORY_THRESHOLD
