"""Held-out evaluation of a classifier: accuracy, macro-F1 and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Evaluation:
    labels: tuple[str, ...]  # row/column order of the confusion matrix (gold labels, then others)
    accuracy: float
    macro_f1: float
    confusion: tuple[tuple[int, ...], ...]  # confusion[gold][predicted]
    n: int

    def report(self) -> str:
        """A plain-text report for the terminal."""
        width = max(8, *(len(lb) for lb in self.labels))
        lines = [
            f"held-out rows: {self.n}",
            f"accuracy: {self.accuracy:.4f}",
            f"macro-F1: {self.macro_f1:.4f}",
            "confusion matrix (rows: true label, columns: predicted):",
            " " * width + " " + " ".join(f"{lb[:width]:>{width}}" for lb in self.labels),
        ]
        for lb, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{lb[:width]:>{width}} " + " ".join(f"{c:>{width}}" for c in row))
        return "\n".join(lines)


def evaluate(gold: Sequence[str], predicted: Sequence[str]) -> Evaluation:
    """Score predictions against gold labels (an "uncertain" prediction counts as wrong)."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError("need equally many, and some, gold and predicted labels")
    labels = sorted(set(gold))
    labels += sorted(set(predicted) - set(labels))
    pos = {lb: i for i, lb in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[pos[g]][pos[p]] += 1
    f1s = []
    for lb in sorted(set(gold)):
        i = pos[lb]
        tp = matrix[i][i]
        predicted_i = sum(row[i] for row in matrix)
        gold_i = sum(matrix[i])
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / gold_i if gold_i else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    correct = sum(matrix[i][i] for i in range(len(labels)))
    return Evaluation(
        labels=tuple(labels),
        accuracy=correct / len(gold),
        macro_f1=sum(f1s) / len(f1s),
        confusion=tuple(tuple(row) for row in matrix),
        n=len(gold),
    )
