"""From per-label scores to a `Classification`: softmax, confidence, and the uncertain outcome."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workers.models import UNCERTAIN, Classification


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax of a (labels,) or (n, labels) array."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float32] = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


def decide(
    labels: Sequence[str],
    probabilities: npt.NDArray[np.float32],
    *,
    threshold: float,
    language: str | None,
    model_version: str,
) -> Classification:
    """The top label with its probability, or UNCERTAIN when that probability is below threshold."""
    best = int(np.argmax(probabilities))
    confidence = float(probabilities[best])
    return Classification(
        label=labels[best] if confidence >= threshold else UNCERTAIN,
        confidence=round(confidence, 4),
        language=language,
        model_version=model_version,
        scores={lb: round(float(p), 4) for lb, p in zip(labels, probabilities, strict=True)},
    )
