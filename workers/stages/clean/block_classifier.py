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
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from workers.stages.clean.block_features import FEATURE_NAMES

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

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

    def raw_scores(self, rows: ArrayLike) -> Any:
        """The ensemble's log-odds for each row.

        All trees are walked together, one level per step, for all rows at once: each step
        looks up, for every (tree, row) pair, the feature and threshold of the node it is at
        and moves it to a child; a leaf's children are itself, so pairs that reached a leaf
        stay there. A step touches trees x rows values (~24,000 on a 240-block page), where
        testing every inner node for every row first touched rows x 3,000 (3x slower, ~3 ms
        a page). The depth of the trees sets the number of steps.
        """
        import numpy as np

        x = np.asarray(rows, dtype=np.float64)
        n = x.shape[0]
        # Feature-major copy: (feature f, row r) is at f * n + r, so one flat `take` per step.
        flat = x.T.ravel()
        offsets = self.feature * n
        row_of = np.tile(np.arange(n), len(self.roots))
        children = _children(self).ravel()  # node k's children at 2k (left) and 2k + 1 (right)
        missing = bool(np.isnan(flat).any())
        node = np.repeat(self.roots, n)  # tree-major: all rows of tree 0, then tree 1, ...
        for _ in range(self.depth):
            values = flat.take(offsets.take(node) + row_of)
            threshold = self.threshold.take(node)
            if missing:
                go_right = ~(
                    (values <= threshold) | (np.isnan(values) & self.missing_left.take(node))
                )
            else:  # the usual case (block_features never yields NaN): one comparison
                go_right = values > threshold
            node = children.take(2 * node + go_right)
        leaves = node.reshape(len(self.roots), n)
        return self.baseline + self.value[leaves].sum(axis=0)

    def probabilities(self, rows: ArrayLike) -> list[float]:
        """P(story) per row of `rows` (a (rows, features) matrix, or a list of feature rows)."""
        import numpy as np

        x = np.asarray(rows, dtype=np.float64)
        if not x.size:
            return []
        scores = self.raw_scores(x)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-scores))]


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


def story_probabilities(rows: ArrayLike) -> list[float]:
    """P(block belongs to the story) per feature row, by the shipped model."""
    return shipped_model().probabilities(rows)
