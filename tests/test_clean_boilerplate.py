"""The paragraph filter's rules, one kind of page furniture at a time."""

from __future__ import annotations

import re

import pytest

from workers.stages.clean import boilerplate
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


_LOWER_CASE_PATTERNS = (
    "_CAPTION_MARKERS",
    "_PHOTO_BY_TAIL",
    "_CREDIT_LINE",
    "_COMMENT_FORM",
    "_NEWSLETTER",
    "_NEWSLETTER_CONTEXT",
    "_COOKIE",
    "_COOKIE_CONTEXT",
    "_PAYWALL",
)


@pytest.mark.parametrize("name", _LOWER_CASE_PATTERNS)
def test_patterns_matched_on_the_lower_cased_line_hold_no_upper_case_letter(name: str) -> None:
    pattern = getattr(boilerplate, name)
    literal = re.sub(r"\\.", "", pattern.pattern)  # escapes such as \W, \S are not letters
    assert not pattern.flags & re.IGNORECASE
    assert [c for c in literal if c.isupper()] == []


# One phrase per alternative of each pattern that a cue list guards: the pattern must match it
# and the cue test must let it through, or the cue list has fallen behind the pattern.
_GUARDED_PHRASES = {
    "_CAPTION_MARKERS": (
        "_CAPTION_CUES",
        [
            "hide caption",
            "toggle caption",
            "enlarge this image",
            "expand image",
            "view image in fullscreen",
            "image 2 of 9",
            "photo 1 of 4",
            "bild 3 von 7",
            "foto 2 de 5",
        ],
    ),
    "_PHOTO_BY_TAIL": (
        "_CAPTION_CUES",
        [
            "the crowd (photo by sam lee)",
            "the crowd (images: ap)",
            "the crowd (picture by x y)",
            "the crowd (foto: dpa)",
            "the crowd (bild: dpa)",
            "the crowd photograph by sam lee/agency",
            "the crowd image credit jane doe/agency",
            "the crowd picture: jane doe/agency",
        ],
    ),
    "_COMMENT_FORM": (
        "_COMMENT_CUES",
        [
            "leave a reply",
            "leave a comment",
            "post a comment",
            "add a comment",
            "write a comment",
            "please enter your name",
            "you have entered an incorrect email",
            "save my name, email",
            "your email address will not be published",
            "required fields are marked",
            "cancel reply",
            "comments are closed",
            "login to reply",
            "log in to comment",
            "sign in to comment",
            "notify me of follow-up comments",
            "notify me of new posts",
            "this site uses akismet",
            "join the conversation",
            "join the discussion",
            "be the first to comment",
            "show comments",
            "view comments",
            "kommentar schreiben",
            "kommentar verfassen",
            "deja un comentario",
            "deja tu comentario",
            "laisser un commentaire",
            "lascia un commento",
            "dejar un comentario",
            "schreibe einen kommentar",
        ],
    ),
    "_PAYWALL": (
        "_PAYWALL_CUES",
        [
            "subscribe to continue",
            "subscribe now to read",
            "subscribe to unlock",
            "to continue reading",
            "continue reading with",
            "already a subscriber",
            "this story is only available to members",
            "this content is reserved for subscribers",
            "this article is for subscribers",
            "subscribers only",
            "for subscribers",
            "sign in to read",
            "sign in to continue",
            "create a free account to",
            "register to continue",
            "register now to read",
            "you have reached your free article limit",
            "you have reached your story limit",
            "unlock this article",
            "unlock full access",
            "jetzt weiterlesen",
            "weiterlesen mit",
            "nur für abonnenten",
            "artikel ist exklusiv",
            "réservé aux abonnés",
            "article réservé",
            "la suite est réservée",
            "contenido exclusivo para suscriptores",
            "solo para suscriptores",
            "riservato agli abbonati",
            "abbonati per continuare",
        ],
    ),
    "_NEWSLETTER": (
        "_NEWSLETTER_CUES",
        [
            "newsletter",
            "newsletters",
            "sign up",
            "signing up",
            "subscribe",
            "subscription",
            "inbox",
            "abonnieren",
            "abonnez-vous",
            "inscríbete",
            "inscribete",
            "suscríbete",
            "suscribete",
            "iscriviti",
            "anmelden",
        ],
    ),
}


@pytest.mark.parametrize(
    ("pattern_name", "cues_name", "phrase"),
    [
        (pattern, cues, phrase)
        for pattern, (cues, phrases) in _GUARDED_PHRASES.items()
        for phrase in phrases
    ],
)
def test_cue_words_let_through_every_phrase_their_pattern_matches(
    pattern_name: str, cues_name: str, phrase: str
) -> None:
    assert getattr(boilerplate, pattern_name).search(phrase)
    assert any(cue in phrase for cue in getattr(boilerplate, cues_name))


def test_the_verdict_memo_keeps_short_lines_only() -> None:
    """Repeated short lines (menus, share bars) are remembered; a huge block is judged but not
    kept, so a long-running worker's memo stays a few MB whatever the pages hold."""
    huge = "word " * 20_000
    boilerplate._memo_line.cache_clear()
    assert filter_paragraphs([huge, STORY]) == [huge.strip(), STORY]
    assert boilerplate._memo_line.cache_info().currsize == 1  # STORY
