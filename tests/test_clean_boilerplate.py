"""The paragraph filter's rules, one kind of page furniture at a time."""

from __future__ import annotations

import pytest

from workers.stages.clean.boilerplate import filter_paragraphs, is_boilerplate

STORY = (
    "The regional transport authority said on Monday that it would add forty buses to its "
    "night network next year, after ridership rose for the third year in a row."
)
STORY_2 = (
    "Officials said the money would come from a fuel levy approved last spring, and that "
    "drivers had already been hired for most of the new routes."
)


@pytest.mark.parametrize(
    "line",
    [
        "Kayla Bartkowski/Getty Images",
        "Andrew Harnik/Getty Images North America",
        "Photo: Reuters",
        "Foto: dpa",
        "© Jane Doe",
        "Mourners gather outside the church on Sunday. (Photo by Sam Lee/Getty Images)",
        "The mayor speaks to reporters. Ana Ruiz/AP hide caption",
        "toggle caption",
    ],
)
def test_captions_and_photo_credits_are_furniture(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "Advertisement",
        "ADVERTISEMENT",
        "Sponsor Message",
        "Anzeige",
        "Publicidad",
        "Story continues below advertisement",
    ],
)
def test_ad_and_sponsor_labels_are_furniture(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    ["Share", "Share this article", "Facebook Twitter Email", "Teilen", "Copy link", "12 Shares"],
)
def test_share_bars_are_furniture(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "Sign up for our newsletter and get the top stories in your inbox every morning.",
        "We use cookies to improve your experience. By continuing you accept our use of cookies.",
        "LEAVE A REPLY",
        "Please enter your comment!",
        "Please enter your name here",
        "You have entered an incorrect email address!",
        "Your email address will not be published. Required fields are marked *",
        "Subscribe to continue reading.",
        "READ MORE: Council delays vote on stadium plan",
    ],
)
def test_prompts_forms_and_inline_teasers_are_furniture(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    ["By Maria Keller", "Von Jana Vogt und Tobias Renner", "Updated 3:45 PM EST", "5 min read"],
)
def test_bylines_and_datelines_repeated_as_text_are_furniture(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        STORY,
        "Trump said Putin suggested he could help with Iran talks",
        "By the end of the week, the river had fallen below its banks and most roads had reopened.",
        "The newsletter, which she started in 2019, now has 40,000 readers and pays two reporters.",
        "Reuters reported on Tuesday that the company had hired advisers to explore a sale.",
        "Advertisement spending fell 4% in the quarter, the company said.",
    ],
)
def test_story_sentences_that_mention_furniture_words_are_kept(line: str) -> None:
    assert not is_boilerplate(line)


def test_author_name_alone_on_a_line_is_dropped() -> None:
    assert filter_paragraphs([STORY, "Maria Keller", STORY_2], authors=["Maria Keller"]) == [
        STORY,
        STORY_2,
    ]


def test_headline_repeated_in_the_body_is_dropped() -> None:
    title = "Night buses to run every 15 minutes"
    assert filter_paragraphs(["Home News " + title, title, STORY], title=title) == [STORY]


def test_end_marker_after_the_story_cuts_the_teasers_behind_it() -> None:
    kept = filter_paragraphs(
        [STORY, STORY_2, "Related", "Bus fares to rise in January", "Tram line delayed"]
    )
    assert kept == [STORY, STORY_2]


def test_end_marker_early_in_the_story_only_loses_its_own_line() -> None:
    kept = filter_paragraphs([STORY, "Related", STORY_2, STORY_2 + " More.", STORY + " Again."])
    assert "Related" not in kept
    assert len(kept) == 4


def test_repeated_paragraph_is_kept_once() -> None:
    assert filter_paragraphs([STORY, STORY_2, STORY]) == [STORY, STORY_2]
