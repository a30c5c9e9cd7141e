"""The MiniLM encoder: unit vectors, batching-independent, same answer on numpy and torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.stages.classify.encoder import MiniLMEncoder, leading_words, shared_encoder

TEXTS = [
    "Stocks rallied on Wall Street after the central bank held interest rates.",
    "The striker scored twice.",
    "Scientists found water vapour on a distant planet, a NASA team reported on Monday.",
]


def test_embeddings_are_unit_vectors_of_384_dimensions() -> None:
    emb = shared_encoder().encode(TEXTS)
    assert emb.shape == (3, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_an_embedding_does_not_depend_on_its_batch() -> None:
    enc = shared_encoder()
    together = enc.encode(TEXTS)
    alone = np.vstack([enc.encode([t]) for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-4)


def test_related_texts_are_closer_than_unrelated_ones() -> None:
    a, b, c = shared_encoder().encode(
        ["The team won the football match.", "The club won the soccer game.", "Bank profits fell."]
    )
    assert float(a @ b) > float(a @ c)


def test_numpy_and_float_torch_forward_passes_agree() -> None:
    pytest.importorskip("torch")
    np_emb = MiniLMEncoder(backend="numpy").encode(TEXTS)
    torch_emb = MiniLMEncoder(backend="torch", quantize=False).encode(TEXTS)
    assert np.all((np_emb * torch_emb).sum(axis=1) > 0.9999)


def test_the_int8_torch_encoder_stays_close_to_float32() -> None:
    """Quantised weights move an embedding a little (cosine ~0.99), never to another topic."""
    pytest.importorskip("torch")
    int8 = MiniLMEncoder(backend="torch")
    assert int8.quantized
    assert int8.name == f"minilm-l6-int8-{int8.max_tokens}"
    exact = MiniLMEncoder(backend="numpy").encode(TEXTS)
    approx = int8.encode(TEXTS)
    assert np.all((exact * approx).sum(axis=1) > 0.97)
    assert np.array_equal((approx @ exact.T).argmax(axis=1), np.arange(len(TEXTS)))


def test_the_numpy_encoder_is_float32_and_says_so() -> None:
    assert MiniLMEncoder(backend="numpy").name == "minilm-l6-48"


def test_only_the_words_that_can_reach_the_model_are_tokenized() -> None:
    """Cutting the text to its first max_tokens words before tokenizing gives the same ids."""
    encoder = shared_encoder(48)
    goldens = sorted((Path(__file__).parent / "pages" / "golden").glob("*"))[:5]
    texts = [
        *(g.read_text(encoding="utf-8") for g in goldens),
        "Markets  rallied\\n\\non Monday; the Dow-Jones (DJIA) rose 2.5% after... " * 40,
        "東京の株式市場は月曜日に上昇した。" * 60,
        "short text",
        "",
    ]
    for text in texts:
        whole = list(encoder._tok.encode(text).ids)  # the tokenizer truncates after the fact
        assert encoder.token_ids(text) == whole
        assert len(leading_words(text, 48)) <= max(len(text), 48 * 48)
