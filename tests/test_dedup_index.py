"""The Redis dedup index: levels, versions, redelivery, expiry and key layout, on real Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from tests.test_dedup_corpus import (
    CHIPS,
    FLOOD,
    FLOOD_OTHER,
    MARKET_MONDAY,
    MARKET_TUESDAY,
    ORCHESTRA,
    SHORT_A,
    SHORT_B,
    edited,
    reordered,
    resent,
    truncated,
    wrapped,
)
from tests.waiting import wait_until
from workers.adapters.dedup_index import BUCKETS_PER_WINDOW, RedisDedupIndex, index_base
from workers.stages.dedup import fingerprint_text, near_duplicate_score

WINDOW = 3600


@pytest.fixture
def index(redis_client: redis.Redis, key_prefix: str) -> RedisDedupIndex:
    return RedisDedupIndex(redis_client, key_prefix, WINDOW)


def check(index: RedisDedupIndex, article_id: str, text: str, url: str | None = None):  # type: ignore[no-untyped-def]
    return index.check_and_insert(
        article_id, url or f"https://example.org/{article_id}", fingerprint_text(text)
    )


def test_a_first_story_is_new_and_starts_its_own_cluster(index: RedisDedupIndex) -> None:
    verdict = check(index, "a1", FLOOD)
    assert not verdict.is_duplicate
    assert verdict.cluster_id == "a1"
    assert verdict.duplicate_of is None
    assert verdict.version_of is None


@pytest.mark.parametrize(
    "make_copy",
    [wrapped, truncated, reordered, edited, lambda t: wrapped(truncated(t, 0.8))],
    ids=["wrapped", "truncated", "reordered", "edited", "truncated_and_wrapped"],
)
def test_each_kind_of_near_copy_is_caught(
    index: RedisDedupIndex, make_copy: Callable[[str], str]
) -> None:
    check(index, "orig", CHIPS)
    verdict = check(index, "copy", make_copy(CHIPS))
    assert verdict.is_duplicate
    assert (verdict.level, verdict.duplicate_of, verdict.cluster_id) == ("near", "orig", "orig")
    assert verdict.similarity is not None
    assert 0.0 < verdict.similarity <= 1.0


def test_a_resent_wire_story_is_an_exact_duplicate(index: RedisDedupIndex) -> None:
    check(index, "orig", ORCHESTRA)
    verdict = check(index, "wire", resent(ORCHESTRA))
    assert (verdict.is_duplicate, verdict.level, verdict.duplicate_of) == (True, "exact", "orig")


def test_a_short_text_is_caught_when_exactly_the_same(index: RedisDedupIndex) -> None:
    check(index, "s1", SHORT_A)
    assert check(index, "s2", SHORT_A.upper()).level == "exact"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (FLOOD, FLOOD_OTHER),
        (MARKET_MONDAY, MARKET_TUESDAY),
        (wrapped(FLOOD), wrapped(CHIPS)),
        (SHORT_A, SHORT_B),
    ],
    ids=[
        "same_event_other_story",
        "template_report_new_figures",
        "shared_boilerplate",
        "short_briefs",
    ],
)
def test_non_duplicates_are_kept_apart(index: RedisDedupIndex, first: str, second: str) -> None:
    check(index, "one", first)
    verdict = check(index, "two", second)
    assert not verdict.is_duplicate
    assert verdict.cluster_id == "two"


def test_a_copy_of_a_copy_points_at_the_first_seen_original(index: RedisDedupIndex) -> None:
    check(index, "orig", FLOOD)
    check(index, "copy1", wrapped(FLOOD))
    verdict = check(index, "copy2", resent(wrapped(FLOOD)))
    assert (verdict.duplicate_of, verdict.cluster_id) == ("orig", "orig")


def test_same_url_and_same_text_from_another_id_is_a_url_duplicate(index: RedisDedupIndex) -> None:
    check(index, "first", FLOOD, url="https://news.example/flood")
    verdict = check(index, "again", FLOOD, url="https://news.example/flood")
    assert (verdict.is_duplicate, verdict.level, verdict.duplicate_of) == (True, "url", "first")


def test_changed_text_at_the_same_url_is_a_new_version(index: RedisDedupIndex) -> None:
    check(index, "v1", FLOOD, url="https://news.example/flood")
    updated = FLOOD + "\n\nUpdate: the river peaked at 5.2 metres early on Wednesday morning."
    verdict = check(index, "v2", updated, url="https://news.example/flood")
    assert not verdict.is_duplicate
    assert (verdict.version_of, verdict.cluster_id) == ("v1", "v1")
    assert (
        check(index, "v3", updated + " More soon.", url="https://news.example/flood").version_of
        == "v2"
    )


@pytest.mark.parametrize("text", [FLOOD, wrapped(FLOOD)], ids=["original", "duplicate"])
def test_redelivery_returns_the_first_verdict(index: RedisDedupIndex, text: str) -> None:
    check(index, "orig", FLOOD)
    first = check(index, "article", text)
    assert check(index, "article", text) == first
    assert check(index, "orig", FLOOD).duplicate_of is None  # never "a duplicate of itself"


def test_every_key_shares_one_hash_tag_and_expires_within_a_window_and_a_bucket(
    index: RedisDedupIndex, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Memory stays bounded by the window: every per-article key expires; only the sequence
    counter (one key per deployment) is kept."""
    check(index, "a", FLOOD)
    check(index, "b", wrapped(FLOOD))
    keys = list(redis_client.scan_iter(match=f"{key_prefix}:*"))
    assert len(keys) >= 7  # a:, n:, u: for each, one x:, seq, a band hash
    for key in keys:
        assert key.decode().startswith(index_base(key_prefix))
        assert "{dedup}" in key.decode()
        if key.decode() == f"{index_base(key_prefix)}seq":
            assert redis_client.ttl(key) == -1
            continue
        ceiling = WINDOW + WINDOW // BUCKETS_PER_WINDOW if ":b:" in key.decode() else WINDOW
        assert 0 < redis_client.ttl(key) <= ceiling


def test_bands_are_fields_of_one_hash_per_time_bucket(
    index: RedisDedupIndex, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Bands are most of an article's entries: a hash per bucket, not a key per band, keeps
    a check to a handful of Redis commands."""
    fp = fingerprint_text(FLOOD)
    check(index, "a", FLOOD)
    band_keys = list(redis_client.scan_iter(match=f"{index_base(key_prefix)}b:*"))
    assert len(band_keys) == 1
    assert redis_client.hlen(band_keys[0]) == len(fp.bands) > 10


def test_an_article_older_than_the_window_is_forgotten(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    short = RedisDedupIndex(redis_client, key_prefix, window_seconds=1)
    short.check_and_insert("old", "https://a.example/1", fingerprint_text(FLOOD))
    counter = f"{index_base(key_prefix)}seq".encode()
    assert wait_until(lambda: set(redis_client.scan_iter(match=f"{key_prefix}:*")) == {counter})
    verdict = short.check_and_insert("late", "https://b.example/1", fingerprint_text(FLOOD))
    assert not verdict.is_duplicate


def test_the_lua_decision_agrees_with_the_python_reference(index: RedisDedupIndex) -> None:
    texts = {
        "flood": FLOOD,
        "chips": CHIPS,
        "market": MARKET_MONDAY,
    }
    probes = {
        "flood_edit": edited(FLOOD),
        "chips_trunc": truncated(CHIPS, 0.4),
        "market_next": MARKET_TUESDAY,
        "flood_other": FLOOD_OTHER,
        "chips_in_flood": wrapped(CHIPS),
    }
    for name, text in texts.items():
        check(index, name, text)
    for name, text in probes.items():
        fp = fingerprint_text(text)
        expected = {n for n, t in texts.items() if near_duplicate_score(fingerprint_text(t), fp)}
        verdict = index.check_and_insert(name, f"https://x.example/{name}", fp)
        assert ({verdict.duplicate_of} if verdict.is_duplicate else set()) == expected, name
