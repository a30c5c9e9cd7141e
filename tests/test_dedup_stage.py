"""The pure dedup stage: fingerprints and the near-duplicate decision, on texts written for it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.test_dedup_corpus import (
    CHIPS,
    FLOOD,
    FLOOD_OTHER,
    MARKET_MONDAY,
    MARKET_TUESDAY,
    SHORT_A,
    STORIES,
    edited,
    reordered,
    resent,
    truncated,
    wrapped,
)
from workers.stages.dedup import exact_hash, fingerprint_text, near_duplicate_score

COPIES: dict[str, Callable[[str], str]] = {
    "wrapped_in_boilerplate": wrapped,
    "truncated": truncated,
    "reordered": reordered,
    "lightly_edited": edited,
    "resent_with_other_typography": resent,
    # A teaser of most of the story inside other boilerplate. (Cut to 60% *and* wrapped, the
    # shared part falls below both thresholds: a known limit, see docs/dedup.md.)
    "truncated_and_wrapped": lambda t: wrapped(truncated(t, 0.8)),
    "edited_and_wrapped": lambda t: wrapped(edited(t)),
}


@pytest.mark.parametrize("story", sorted(STORIES))
@pytest.mark.parametrize("make_copy", list(COPIES.values()), ids=list(COPIES))
def test_each_kind_of_copy_is_a_near_duplicate(story: str, make_copy: Callable[[str], str]) -> None:
    original = fingerprint_text(STORIES[story])
    copy = fingerprint_text(make_copy(STORIES[story]))
    score = near_duplicate_score(original, copy)
    assert score is not None
    assert score == near_duplicate_score(copy, original)  # the decision is symmetric


def test_a_different_story_on_the_same_event_is_not_a_duplicate() -> None:
    assert near_duplicate_score(fingerprint_text(FLOOD), fingerprint_text(FLOOD_OTHER)) is None


def test_two_stories_inside_the_same_site_boilerplate_are_not_duplicates() -> None:
    a, b = fingerprint_text(wrapped(FLOOD)), fingerprint_text(wrapped(CHIPS))
    assert near_duplicate_score(a, b) is None


def test_a_template_report_with_new_figures_is_not_a_duplicate() -> None:
    monday, tuesday = fingerprint_text(MARKET_MONDAY), fingerprint_text(MARKET_TUESDAY)
    assert near_duplicate_score(monday, tuesday) is None


def test_the_same_template_report_with_its_own_figures_is_a_duplicate() -> None:
    monday = fingerprint_text(MARKET_MONDAY)
    assert near_duplicate_score(monday, fingerprint_text(wrapped(MARKET_MONDAY))) is not None


def test_a_short_text_is_matched_on_exact_text_only() -> None:
    fp = fingerprint_text(SHORT_A)
    assert not fp.near_eligible
    assert fp.bands == ()
    assert near_duplicate_score(fp, fp) is None


def test_exact_hash_ignores_case_punctuation_and_spacing() -> None:
    assert exact_hash(FLOOD) == exact_hash(resent(FLOOD))
    assert exact_hash(FLOOD) != exact_hash(edited(FLOOD))


def test_fingerprint_is_the_same_in_another_process() -> None:
    """No salted hash(): a worker on another machine computes the same fingerprint."""
    code = (
        "import sys; from workers.stages.dedup import fingerprint_text;"
        "fp = fingerprint_text(sys.stdin.read());"
        "print(fp.exact, fp.signature.hex(), ','.join(fp.bands), fp.numbers.hex(), sep='|')"
    )
    here = fingerprint_text(MARKET_MONDAY)
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=MARKET_MONDAY,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert here.numbers
    assert out == "|".join(
        [here.exact, here.signature.hex(), ",".join(here.bands), here.numbers.hex()]
    )


def test_a_canonical_link_that_is_not_a_usable_url_falls_back_to_the_articles_own() -> None:
    """A page whose <link rel=canonical> has a percent-encoded host is deduplicated under the
    URL it was fetched from, not quarantined as bad_url."""
    from workers.steps import dedup_key
    from workers.store.repository import StageInput

    inp = StageInput(article_id="a1", url="https://news.example/a", status="cleaned", attempts=0)
    assert dedup_key(inp, "https://%65xample.com/story") == "https://news.example/a"
    assert dedup_key(inp, "https://news.example/a?utm_source=x") == "https://news.example/a"
    assert dedup_key(inp, None) == "https://news.example/a"
