"""One step per stage: load its input from the store, call the pure stage, save its output.

Steps know the store and the stage function, not the queue: the runner calls them, the pipeline
decides what comes next. Each returns a StepResult saying whether the article goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workers.fetching.urls import canonicalize_url
from workers.pipeline import Stage
from workers.services import Services
from workers.stages.classify import Classifier
from workers.stages.clean import clean_page
from workers.stages.dedup import fingerprint_text
from workers.stages.fetch import fetch_article


@dataclass(frozen=True, slots=True)
class StepResult:
    outcome: str  # "ok", "duplicate", "new_version", "uncertain"
    proceed: bool = True
    detail: dict[str, Any] = field(default_factory=dict)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def fetch_step(article_id: str, svc: Services) -> StepResult:
    record = svc.store.get(article_id)
    if record is None:
        raise LookupError(article_id)
    start = time.perf_counter()
    page = fetch_article(record.url, svc.fetcher)
    svc.store.save_page(article_id, page, _ms(start))
    return StepResult(
        "ok",
        detail={"http_status": page.status, "bytes": len(page.html), "final_url": page.final_url},
    )


def clean_step(article_id: str, svc: Services) -> StepResult:
    page = svc.store.load_page(article_id)
    start = time.perf_counter()
    article = clean_page(page.html, page.final_url)
    svc.store.save_cleaned(article_id, article, _ms(start))
    return StepResult("ok", detail={"title": article.title[:120], "words": article.word_count})


def dedup_step(article_id: str, svc: Services) -> StepResult:
    record = svc.store.get(article_id)
    if record is None:
        raise LookupError(article_id)
    article = svc.store.load_cleaned(article_id)
    start = time.perf_counter()
    url_key = canonicalize_url(article.canonical_url or record.canonical_url or record.url)
    verdict = svc.dedup_index.check_and_insert(article_id, url_key, fingerprint_text(article.text))
    svc.store.save_verdict(article_id, verdict, _ms(start))
    detail = {"cluster_id": verdict.cluster_id, "level": verdict.level}
    if verdict.is_duplicate:
        return StepResult(
            "duplicate", proceed=False, detail={**detail, "duplicate_of": verdict.duplicate_of}
        )
    if verdict.version_of:
        return StepResult("new_version", detail={**detail, "version_of": verdict.version_of})
    return StepResult("new", detail=detail)


def classify_step(article_id: str, svc: Services) -> StepResult:
    article = svc.store.load_cleaned(article_id)
    classifier: Classifier = svc.classifiers.current()
    start = time.perf_counter()
    text = f"{article.lead}\n\n{article.text}" if article.lead else article.text
    # The clean stage already detected the language (or read it from the page): reuse it.
    result = classifier.classify(article.title, text, language=article.language)
    svc.store.save_classification(article_id, result, _ms(start))
    return StepResult(
        "uncertain" if result.uncertain else "ok",
        detail={
            "label": result.label,
            "confidence": round(result.confidence, 4),
            "language": result.language,
            "model_version": result.model_version,
        },
    )


STEPS: dict[Stage, Callable[[str, Services], StepResult]] = {
    "fetch": fetch_step,
    "clean": clean_step,
    "dedup": dedup_step,
    "classify": classify_step,
}
