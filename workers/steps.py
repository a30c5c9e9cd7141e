"""One step per stage: the pure stage function applied to what the store holds for the article.

A step takes the article's `StageInput` (read by the runner in one transaction) and returns a
`StepResult`: the stage's typed output, the outcome for its event, and what to trace. It saves
nothing: the runner hands the output to the store, which saves it with the status move and the
event in one transaction. Steps know the stage functions and their effects (HTTP, the dedup
index, the classifier); they do not know the queue, the store or which stage comes next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from workers.errors import PermanentError
from workers.fetching.urls import canonicalize_url
from workers.models import SlotReservation
from workers.pipeline import Stage, Status
from workers.stages.fetch import PageFetcher, fetch_article
from workers.store.repository import StageInput, StageOutput

if TYPE_CHECKING:
    from workers.stages.classify import ClassifierProvider
    from workers.stages.dedup import DedupIndex


class StepOutcome(StrEnum):
    """What a stage found, as its event's outcome."""

    OK = "ok"
    NEW = "new"  # dedup: a story not seen before
    NEW_VERSION = "new_version"  # dedup: an updated text at a URL seen before
    DUPLICATE = "duplicate"  # dedup: the chain stops, the article is a duplicate
    UNCERTAIN = "uncertain"  # classify: no label was confident enough


@dataclass(frozen=True, slots=True)
class StepResult:
    output: StageOutput
    outcome: StepOutcome
    detail: dict[str, Any] = field(default_factory=dict)
    # A result that finishes the article here instead of sending it on (a duplicate).
    ends_as: Status | None = None


Step = Callable[[StageInput, SlotReservation | None], StepResult]


class StepServices(Protocol):
    """The effects steps use (workers.services.Services provides them)."""

    @property
    def fetcher(self) -> PageFetcher: ...

    @property
    def dedup_index(self) -> DedupIndex: ...

    @property
    def classifiers(self) -> ClassifierProvider: ...


def fetch_step(inp: StageInput, svc: StepServices, slot: SlotReservation | None) -> StepResult:
    page = fetch_article(inp.url, svc.fetcher, slot)
    return StepResult(
        page,
        StepOutcome.OK,
        detail={
            "http_status": page.status,
            # The body's size as received (decompressed); a fake fetcher may not measure it.
            "bytes": page.body_bytes or len(page.html.encode("utf-8")),
            "final_url": page.final_url,
        },
    )


def clean_step(inp: StageInput, _svc: StepServices, _slot: SlotReservation | None) -> StepResult:
    if inp.page is None:
        raise LookupError(f"article {inp.article_id} has no stored page")
    # Stage libraries are imported by the step that uses them, so a worker process loads only
    # its own stages' (a fetch worker never imports the extractor: ~100 MB less per process).
    from workers.stages.clean import clean_page

    article = clean_page(inp.page.html, inp.page.final_url)
    return StepResult(
        article, StepOutcome.OK, detail={"title": article.title[:120], "words": article.word_count}
    )


def dedup_key(inp: StageInput, page_canonical: str | None) -> str:
    """The URL an article is deduplicated under: the page's own canonical link when it is a
    usable URL, else the canonical URL recorded for the article, else the URL it came from."""
    for candidate in (page_canonical, inp.canonical_url, inp.url):
        if not candidate:
            continue
        try:
            return canonicalize_url(candidate)
        except PermanentError:
            continue  # e.g. a <link rel=canonical> with a percent-encoded host
    return inp.url


def dedup_step(inp: StageInput, svc: StepServices, _slot: SlotReservation | None) -> StepResult:
    if inp.cleaned is None:
        raise LookupError(f"article {inp.article_id} has not been cleaned")
    from workers.stages.dedup import fingerprint_text

    url_key = dedup_key(inp, inp.cleaned.canonical_url)
    verdict = svc.dedup_index.check_and_insert(
        inp.article_id, url_key, fingerprint_text(inp.cleaned.text)
    )
    detail: dict[str, Any] = {"cluster_id": verdict.cluster_id, "level": verdict.level}
    if verdict.is_duplicate:
        detail["duplicate_of"] = verdict.duplicate_of
        return StepResult(verdict, StepOutcome.DUPLICATE, detail, ends_as=Status.DUPLICATE)
    if verdict.version_of:
        detail["version_of"] = verdict.version_of
        return StepResult(verdict, StepOutcome.NEW_VERSION, detail)
    return StepResult(verdict, StepOutcome.NEW, detail)


def classify_step(inp: StageInput, svc: StepServices, _slot: SlotReservation | None) -> StepResult:
    article = inp.cleaned
    if article is None:
        raise LookupError(f"article {inp.article_id} has not been cleaned")
    classifier = svc.classifiers.current()
    text = f"{article.lead}\n\n{article.text}" if article.lead else article.text
    # The clean stage already detected the language (or read it from the page): reuse it.
    result = classifier.classify(article.title, text, language=article.language)
    return StepResult(
        result,
        StepOutcome.UNCERTAIN if result.uncertain else StepOutcome.OK,
        detail={
            "label": result.label,
            "confidence": round(result.confidence, 4),
            "language": result.language,
            "model_version": result.model_version,
        },
    )


_STEPS: Mapping[Stage, Callable[[StageInput, StepServices, SlotReservation | None], StepResult]] = {
    Stage.FETCH: fetch_step,
    Stage.CLEAN: clean_step,
    Stage.DEDUP: dedup_step,
    Stage.CLASSIFY: classify_step,
}


def build_steps(svc: StepServices) -> dict[Stage, Step]:
    """Every stage's step bound to the services it uses."""

    def bind(
        step: Callable[[StageInput, StepServices, SlotReservation | None], StepResult],
    ) -> Step:
        return lambda inp, slot: step(inp, svc, slot)

    return {stage: bind(step) for stage, step in _STEPS.items()}
