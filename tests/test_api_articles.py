"""The read API's handlers over the real store (SQLite and PostgreSQL): one article, filtered
pages with an opaque cursor, refused parameters; and the field names the event stream uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests import article_support as articles
from workers.api.articles import MAX_LIMIT, ApiError, get_article, list_articles
from workers.events.envelope import build_envelope
from workers.store import ArticleStore
from workers.store.outbox import EventOutbox, Position
from workers.store.schema import Article

BASE = datetime(2026, 11, 1, tzinfo=UTC)


def created(store: ArticleStore, article_id: str, at: datetime) -> None:
    """Set an article's creation time (articles made in one test are microseconds apart)."""
    with store.engine.begin() as conn:
        conn.execute(update(Article).where(Article.id == article_id).values(created_at=at))


@pytest.fixture
def newsroom(store: ArticleStore) -> ArticleStore:
    """Six articles a day apart from 1 November: s0..s3 stored (s2 in German, s3 sport), d4 a
    duplicate of s0, f5 failed."""
    for n in range(4):
        articles.stored(
            store,
            f"s{n}",
            language="de" if n == 2 else "en",
            label="sport" if n == 3 else "politics",
        )
    articles.duplicate(store, "d4", of="s0")
    articles.failed(store, "f5")
    for n, aid in enumerate(["s0", "s1", "s2", "s3", "d4", "f5"]):
        created(store, aid, BASE + timedelta(days=n))
    return store


def ids(page: dict) -> list[str]:
    return [a["article_id"] for a in page["articles"]]


def test_an_article_comes_whole_text_included(newsroom: ArticleStore) -> None:
    article = get_article(newsroom, "s1")
    assert article is not None
    assert article["article_id"] == "s1"
    assert article["status"] == "stored"
    assert article["text"].startswith("The whole text of")


def test_an_unknown_article_is_none(newsroom: ArticleStore) -> None:
    assert get_article(newsroom, "nope") is None
    assert get_article(newsroom, "x" * 500) is None


def test_articles_list_newest_first_without_their_text(newsroom: ArticleStore) -> None:
    page = list_articles(newsroom, {})
    assert ids(page) == ["f5", "d4", "s3", "s2", "s1", "s0"]
    assert all("text" not in a for a in page["articles"])
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "stored"}, ["s3", "s2", "s1", "s0"]),
        ({"status": "duplicate"}, ["d4"]),
        ({"label": "sport"}, ["s3"]),
        ({"language": "de"}, ["s2"]),
        ({"since": "2026-11-03T00:00:00Z"}, ["f5", "d4", "s3", "s2"]),
        ({"until": "2026-11-02T00:00:00+00:00"}, ["s0"]),
        ({"status": "stored", "since": "2026-11-02", "until": "2026-11-04"}, ["s2", "s1"]),
    ],
)
def test_filters(newsroom: ArticleStore, params: dict[str, str], expected: list[str]) -> None:
    assert ids(list_articles(newsroom, params)) == expected


def test_the_cursor_walks_every_article_once_even_as_new_ones_arrive(
    newsroom: ArticleStore,
) -> None:
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        page = list_articles(newsroom, params)
        seen += ids(page)
        if len(seen) == 2:
            articles.stored(newsroom, "new")  # arrives between two pages: newest, not repeated
        if page["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": page["next_cursor"]}
    assert seen == ["f5", "d4", "s3", "s2", "s1", "s0"]


def test_articles_created_in_the_same_instant_are_paged_by_id(store: ArticleStore) -> None:
    for aid in ("a", "b", "c"):
        articles.stored(store, aid)
        created(store, aid, BASE)
    first = list_articles(store, {"limit": "2"})
    second = list_articles(store, {"limit": "2", "cursor": first["next_cursor"]})
    assert ids(first) + ids(second) == ["c", "b", "a"]


def test_limit_is_capped(newsroom: ArticleStore) -> None:
    page = list_articles(newsroom, {"limit": str(MAX_LIMIT * 10)})
    assert len(page["articles"]) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"limit": "0"},
        {"limit": "ten"},
        {"since": "yesterday"},
        {"since": "2026-11-05", "until": "2026-11-01"},
        {"cursor": "not-a-cursor"},
        {"label": "x" * 65},
        {"colour": "red"},
    ],
)
def test_bad_parameters_are_refused_with_400(
    newsroom: ArticleStore, params: dict[str, str]
) -> None:
    with pytest.raises(ApiError) as refused:
        list_articles(newsroom, params)
    assert refused.value.status == 400
    assert refused.value.to_dict()["error"]


def test_an_article_has_the_field_names_and_values_of_its_event(store: ArticleStore) -> None:
    articles.stored(store, "s1")
    articles.duplicate(store, "d2", of="s1")
    batch = EventOutbox(store.engine).read_after(Position(0, 0))
    for event in batch.events:
        data = build_envelope(event, "s")["data"]
        article = get_article(store, event.article_id)
        assert article is not None
        assert {k: article[k] for k in data} == data
