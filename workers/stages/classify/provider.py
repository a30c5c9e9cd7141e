"""Which classifier a worker uses right now, noticing a newly activated model without a restart.

`ClassifierProvider.current()` returns the active trained model when its model source (in
production the Redis registry, `workers.adapters.model_registry`, handed in by the wiring) points
at one, else the zero-shot classifier of the configured taxonomy. The pointer is read at most
every CHECK_INTERVAL seconds, so a busy worker costs Redis one GET per interval; a new version is
fetched and loaded once, then served from memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from workers.models import Classification
from workers.stages.classify.artifact import ArtifactError, LinearModel, load_model
from workers.stages.classify.encoder import MiniLMEncoder, shared_encoder
from workers.stages.classify.linear import LinearClassifier
from workers.stages.classify.taxonomy import load_taxonomy
from workers.stages.classify.zeroshot import ZeroShotClassifier

log = logging.getLogger(__name__)

# Two seconds: a model activated by `newsflow train --activate` is live everywhere within a
# blink, and 100 workers polling cost Redis 50 GETs/s, nothing next to the pipeline's traffic.
CHECK_INTERVAL = 2.0


class Classifier(Protocol):
    """What the classify task calls; every answer carries the version of the model that gave it.

    `language` is the article's language when the caller already knows it (the clean stage's
    `CleanedArticle.language`): it is reported as given, and detected from the text otherwise.
    """

    version: str

    def classify(self, title: str, text: str, language: str | None = None) -> Classification: ...


class ModelSource(Protocol):
    """Where the active model version and its bytes come from (the Redis registry in production)."""

    def active_version(self) -> str | None: ...

    def fetch(self, version: str) -> bytes | None: ...


def build_classifier(
    model: LinearModel, threshold: float, encoder: MiniLMEncoder | None = None
) -> LinearClassifier:
    """A classifier for a trained artifact; the encoder is loaded only if the model needs it."""
    if model.embedding_coef is not None and encoder is None:
        encoder = shared_encoder()
    return LinearClassifier(model, threshold, encoder)


class ClassifierProvider:
    """Hands out the currently configured classifier, swapping in newly activated models."""

    def __init__(
        self,
        taxonomy_path: str | None = None,
        threshold: float = 0.3,
        source: ModelSource | None = None,
        *,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`taxonomy_path` None: the bundled taxonomy; `threshold`: the uncertain threshold
        (NEWSFLOW_UNCERTAIN_THRESHOLD); `source` None: the zero-shot default only."""
        self._taxonomy_path = taxonomy_path
        self._threshold = threshold
        self._source = source
        self._interval = check_interval
        self._clock = clock
        self._checked_at: float | None = None
        self._active: str | None = None
        self._trained: Classifier | None = None
        self._default: Classifier | None = None

    def default(self) -> Classifier:
        """The zero-shot classifier of the configured taxonomy (built on first use)."""
        if self._default is None:
            taxonomy = load_taxonomy(self._taxonomy_path or None)
            self._default = ZeroShotClassifier(taxonomy, shared_encoder(), self._threshold)
        return self._default

    def current(self) -> Classifier:
        self._refresh()
        return self._trained if self._trained is not None else self.default()

    def _refresh(self) -> None:
        now = self._clock()
        if self._source is None or (
            self._checked_at is not None and now - self._checked_at < self._interval
        ):
            return
        self._checked_at = now
        try:
            version = self._source.active_version()
            if version == self._active:
                return
            if version is None:
                self._active, self._trained = None, None
                log.info("classifier_model_deactivated")
                return
            data = self._source.fetch(version)
            if data is None:
                raise ArtifactError(f"active model {version} has no artifact in the registry")
            self._trained = build_classifier(load_model(data), self._threshold)
            self._active = version
            log.info("classifier_model_activated version=%s", version)
        except (ArtifactError, OSError, ConnectionError) as exc:
            # Keep serving the model we have; the next poll tries again.
            log.warning("classifier_model_refresh_failed error=%s", exc)
