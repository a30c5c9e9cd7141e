"""Articles driven to their ends through the real store, as the runner drives them: each stage's
result with the events the runner records (workers/runner.py), so the outbox sees real rows."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.models import Classification, CleanedArticle, DedupVerdict, FetchedPage
from workers.pipeline import Stage, Status
from workers.store import ArticleStore, EventRecord
from workers.tracing import FAILED, SKIPPED, STAGE_EVENTS, STORED

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ev(article_id: str, name: str, stage: str, outcome: str, **detail: object) -> EventRecord:
    return EventRecord(
        article_id=article_id, event=name, stage=stage, outcome=outcome, at=NOW, detail=detail
    )


def fetch_and_clean(
    store: ArticleStore, article_id: str, url: str, title: str, language: str = "en"
) -> None:
    store.create_article(url, "test", article_id)
    page = FetchedPage(url, url, 200, "text/html", "utf-8", "<html><p>story</p></html>", NOW)
    store.complete_stage(
        article_id,
        Stage.FETCH,
        page,
        Status.FETCHED,
        [ev(article_id, STAGE_EVENTS["fetch"], "fetch", "ok")],
    )
    cleaned = CleanedArticle(
        title=title,
        text=f"The whole text of {title}, which never leaves the store.",
        language=language,
        canonical_url=url + "?canonical",
        published_at="2026-11-29T08:00:00+00:00",
    )
    store.complete_stage(
        article_id,
        Stage.CLEAN,
        cleaned,
        Status.CLEANED,
        [ev(article_id, STAGE_EVENTS["clean"], "clean", "ok")],
    )


def stored(
    store: ArticleStore,
    article_id: str,
    url: str | None = None,
    title: str = "A story",
    label: str = "politics",
    language: str = "en",
) -> None:
    url = url or f"https://news.example/{article_id}"
    fetch_and_clean(store, article_id, url, title, language)
    verdict = DedupVerdict(is_duplicate=False, cluster_id=article_id)
    store.complete_stage(
        article_id,
        Stage.DEDUP,
        verdict,
        Status.DEDUPLICATED,
        [ev(article_id, STAGE_EVENTS["dedup"], "dedup", "new", cluster_id=article_id)],
    )
    result = Classification(label=label, confidence=0.875, language=language, model_version="m1")
    store.complete_stage(
        article_id,
        Stage.CLASSIFY,
        result,
        Status.STORED,
        [
            ev(article_id, STAGE_EVENTS["classify"], "classify", "ok"),
            ev(article_id, STORED, "classify", "stored"),
        ],
    )


def duplicate(store: ArticleStore, article_id: str, of: str) -> None:
    fetch_and_clean(store, article_id, f"https://copy.example/{article_id}", "A copied story")
    verdict = DedupVerdict(is_duplicate=True, cluster_id=of, duplicate_of=of, level="exact")
    store.complete_stage(
        article_id,
        Stage.DEDUP,
        verdict,
        Status.DUPLICATE,
        [
            ev(
                article_id,
                STAGE_EVENTS["dedup"],
                "dedup",
                "duplicate",
                cluster_id=of,
                level="exact",
                duplicate_of=of,
            )
        ],
    )


def skipped(store: ArticleStore, article_id: str, reason: str = "not_an_article: index") -> None:
    url = f"https://news.example/{article_id}"
    fetch_and_clean(store, article_id, url, "Section front")
    store.finish(
        article_id,
        Stage.DEDUP,
        Status.SKIPPED,
        reason,
        [ev(article_id, SKIPPED, "dedup", "skipped", reason=reason)],
    )


def failed(store: ArticleStore, article_id: str, reason: str = "http_404: not found") -> None:
    store.create_article(f"https://news.example/{article_id}", "test", article_id)
    store.finish(
        article_id,
        Stage.FETCH,
        Status.FAILED,
        reason,
        [ev(article_id, FAILED, "fetch", "quarantined", reason=reason)],
    )
