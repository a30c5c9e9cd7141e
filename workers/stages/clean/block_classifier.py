"""The learned block classifier: how likely each text block of a page is part of the story.

A gradient-boosted tree ensemble (scikit-learn's HistGradientBoostingClassifier at training time)
over the features of `block_features`, shipped as `block_model.npz` beside this module: the
trees' node arrays only, evaluated here with numpy (no scikit-learn at run time). The training
script is `benchmarks/extraction_train.py`; it trains on the WCXB development pages (Web Content
eXtraction Benchmark, Murrough Foley, CC-BY-4.0: https://creativecommons.org/licenses/by/4.0/),
and the shipped file holds the fitted trees only, none of the data. Retrain after any change to
the features or to the block segmentation: the file records the feature names it was trained
on and loading it against a different list fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from workers.stages.clean.block_features import FEATURE_NAMES

MODEL_FILE = "block_model.npz"


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """All trees' nodes in flat arrays; `roots[t]` is the first node of tree t.

    A node sends a row left when its feature value is <= the threshold (or when the value is
    missing and the node says so); leaves hold their tree's additive score, learning rate
    included, as scikit-learn's predictors store them.
    """

    feature: Any  # int array
    threshold: Any  # float array
    left: Any  # int array (absolute node index)
    right: Any  # int array (absolute node index)
    value: Any  # float array
    is_leaf: Any  # bool array
    missing_left: Any  # bool array
    roots: Any  # int array
    baseline: float
    depth: int
    info: dict[str, Any]

    def raw_scores(self, rows: Sequence[Sequence[float]]) -> Any:
        """The ensemble's log-odds for each row.

        Every node's test is computed for every row at once (rows x nodes booleans), then all
        trees are walked level by level together; a leaf's children are itself, so rows that
        reached a leaf stay there. Measured about as fast as testing node by node (~10 ms on a
        220-block page on a loaded machine); the depth of the trees sets the cost.
        """
        import numpy as np

        x = np.asarray(rows, dtype=np.float64)
        inner = _inner_nodes(self)
        go_right = np.zeros((x.shape[0], len(self.feature)), dtype=bool)
        values = x[:, self.feature[inner]]  # (rows, inner nodes): leaves test nothing
        if np.isnan(values).any():
            go_right[:, inner] = ~(
                (values <= self.threshold[inner]) | (np.isnan(values) & self.missing_left[inner])
            )
        else:  # the usual case (block_features never yields NaN): one comparison pass
            go_right[:, inner] = values > self.threshold[inner]
        # Walk on flat arrays with np.take: go_right row r, node k is at r * nodes + k; node k's
        # children are at 2k (left) and 2k + 1 (right).
        children = _children(self).ravel()
        go_flat = go_right.ravel()
        n = x.shape[0]
        row_start = np.tile(np.arange(n) * go_right.shape[1], len(self.roots))
        node = np.repeat(self.roots, n)  # tree-major: all rows of tree 0, then tree 1, ...
        for _ in range(self.depth):
            step = np.take(go_flat, row_start + node)
            node = np.take(children, 2 * node + step)
        leaves = node.reshape(len(self.roots), n)
        return self.baseline + self.value[leaves].sum(axis=0)

    def probabilities(self, rows: Sequence[Sequence[float]]) -> list[float]:
        import numpy as np

        if not rows:
            return []
        scores = self.raw_scores(rows)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-scores))]


def _inner_nodes(trees: TreeEnsemble) -> Any:
    """Indexes of the nodes that test a feature (not leaves)."""
    import numpy as np

    return np.flatnonzero(~trees.is_leaf)


def _children(trees: TreeEnsemble) -> Any:
    """(nodes, 2) array of each node's left and right child; a leaf points at itself twice."""
    import numpy as np

    own = np.arange(len(trees.feature))
    left = np.where(trees.is_leaf, own, trees.left)
    right = np.where(trees.is_leaf, own, trees.right)
    return np.stack([left, right], axis=1)


def read_ensemble(data: Any) -> TreeEnsemble:
    """A TreeEnsemble out of the arrays of a model file (a mapping of numpy arrays)."""
    info = json.loads(str(data["info"]))
    names = tuple(info["feature_names"])
    if names != FEATURE_NAMES:
        raise ValueError(
            f"{MODEL_FILE} was trained on other features than block_features computes; "
            "retrain it with benchmarks/extraction_train.py"
        )
    return TreeEnsemble(
        feature=data["feature"].astype("int64"),
        threshold=data["threshold"].astype("float64"),
        left=data["left"].astype("int64"),
        right=data["right"].astype("int64"),
        value=data["value"].astype("float64"),
        is_leaf=data["is_leaf"].astype(bool),
        missing_left=data["missing_left"].astype(bool),
        roots=data["roots"].astype("int64"),
        baseline=float(data["baseline"]),
        depth=int(data["depth"]),
        info=info,
    )


@cache
def shipped_model() -> TreeEnsemble:
    """The model file shipped in the package, loaded once per process (~2 ms)."""
    import numpy as np

    with (
        resources.files("workers.stages.clean").joinpath(MODEL_FILE).open("rb") as stream,
        np.load(stream, allow_pickle=False) as data,
    ):
        return read_ensemble(data)


def story_probabilities(rows: Sequence[Sequence[float]]) -> list[float]:
    """P(block belongs to the story) per feature row, by the shipped model."""
    return shipped_model().probabilities(rows)
