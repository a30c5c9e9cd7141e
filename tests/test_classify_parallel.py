"""Encoding a large batch in several processes gives the embeddings one process would."""

from __future__ import annotations

import numpy as np
import pytest

from workers.stages.classify import parallel
from workers.stages.classify.encoder import shared_encoder


@pytest.mark.integration  # starts two encoder processes, each loading the model
def test_parallel_encoding_matches_encoding_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"Story {i}: the council voted on the budget for the {i}th time." for i in range(24)]
    encoder = shared_encoder()
    monkeypatch.setattr(parallel, "PARALLEL_MIN_TEXTS", 10)
    spread = parallel.encode_texts(encoder, texts, processes=2)
    single = encoder.encode(texts)
    assert spread.shape == single.shape
    # Thread counts differ between the two runs, so allow float rounding, nothing more.
    assert np.min(np.sum(spread * single, axis=1)) > 0.999


def test_small_batches_stay_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("no process pool for a small batch")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", refuse)
    assert parallel.encode_texts(shared_encoder(), ["one short text"], processes=2).shape[0] == 1
