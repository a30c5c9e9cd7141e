"""Self-training: zero-shot pseudo-labels on unlabelled texts become a linear model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from workers.stages.classify.encoder import shared_encoder
from workers.stages.classify.features import doc_text
from workers.stages.classify.linear import LinearClassifier
from workers.stages.classify.selftrain import self_train
from workers.stages.classify.taxonomy import taxonomy_from_dict
from workers.stages.classify.zeroshot import ZeroShotClassifier

FIXTURES = Path(__file__).parent / "fixtures" / "classify"
TAXONOMY = taxonomy_from_dict(
    {
        "labels": [
            {"name": "sport", "description": "Sports news about games, teams and players."},
            {"name": "business", "description": "Business news about companies and markets."},
            {"name": "technology", "description": "Technology news about computers and software."},
        ]
    }
)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / "train.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def zero_shot() -> ZeroShotClassifier:
    return ZeroShotClassifier(TAXONOMY, shared_encoder(), threshold=0.0)


@pytest.fixture(scope="module")
def embeddings(
    rows: list[dict[str, str]], zero_shot: ZeroShotClassifier
) -> npt.NDArray[np.float32]:
    """The fixture stories' embeddings, computed once (encoding is most of self_train's time)."""
    return zero_shot.encoder.encode([doc_text(r["title"], r["text"]) for r in rows])


@pytest.mark.parametrize("features", ["words+embedding", "words"])
def test_self_trained_model_labels_its_unlabelled_texts_without_seeing_labels(
    rows: list[dict[str, str]],
    zero_shot: ZeroShotClassifier,
    embeddings: npt.NDArray[np.float32],
    features: str,
) -> None:
    # Six copies of the 36 fixture stories make the 200+ rows self-training asks for (a feed stream
    # repeats stories too); the labels are never shown to it. Their embeddings are passed in, as
    # `newsflow classify` does, instead of encoding every copy again.
    texts = [doc_text(r["title"], r["text"]) for r in rows] * 6
    model = self_train(
        zero_shot,
        texts,
        embeddings=np.tile(embeddings, (6, 1)),
        features=features,  # type: ignore[arg-type]
    )
    assert model is not None
    assert model.version.startswith("selftrained-")
    assert model.features == features
    assert set(model.labels) <= set(TAXONOMY.names)
    encoder = shared_encoder() if features == "words+embedding" else None
    predicted = [
        c.label
        for c in LinearClassifier(model, 0.0, encoder).classify_many(
            [(r["title"], r["text"]) for r in rows]
        )
    ]
    correct = sum(p == r["label"] for p, r in zip(predicted, rows, strict=True))
    assert correct >= 0.9 * len(rows)


def test_too_few_texts_give_no_model(zero_shot: ZeroShotClassifier) -> None:
    assert self_train(zero_shot, ["One short text.", "Another one."]) is None
