"""What clean_page accepts: HTML or plain text told apart, junk and blanks refused by reason."""

from __future__ import annotations

import pytest

from workers.errors import SkipArticle
from workers.stages.clean import clean_page
from workers.stages.clean.dates import to_iso8601
from workers.stages.clean.document import looks_like_html

STORY = (
    "The harbour authority said on Tuesday that the new ferry terminal would open in September, "
    "two months later than planned, because of delays in the delivery of the gangways. "
) * 3


def test_html_is_recognised_by_its_markup() -> None:
    assert looks_like_html("<!DOCTYPE html><html><body><p>x</p></body></html>")


def test_text_with_one_stray_angle_bracket_is_plain_text() -> None:
    assert not looks_like_html("Shares rose 3% <p> after the results.\n\nAnalysts were surprised.")


def test_html_with_an_xml_declaration_is_parsed() -> None:
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html><head><title>Ferry terminal delayed</title>'
        "</head><body><article><h1>Ferry terminal delayed</h1>"
        f"<p>{STORY}</p></article></body></html>"
    )
    assert "gangways" in clean_page(document).text


@pytest.mark.parametrize("document", ["", "   \n\n  ", "<html><body></body></html>"])
def test_blank_documents_are_skipped_as_empty(document: str) -> None:
    with pytest.raises(SkipArticle) as caught:
        clean_page(document)
    assert caught.value.reason == "empty"


def test_binary_content_is_skipped_as_not_text() -> None:
    with pytest.raises(SkipArticle) as caught:
        clean_page("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 50)
    assert caught.value.reason == "not_text"


def test_a_few_words_are_skipped_as_too_short() -> None:
    with pytest.raises(SkipArticle) as caught:
        clean_page("<html><body><article><p>Ferry terminal opens late.</p></article></body></html>")
    assert caught.value.reason in {"too_short", "empty"}


def test_plain_text_story_without_headline_line_keeps_all_its_text() -> None:
    article = clean_page(STORY)
    assert article.text == STORY.strip()
    assert article.title.startswith("The harbour authority said")


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2025-06-04T18:22:00Z", "2025-06-04T18:22:00+00:00"),
        ("2025-06-04T18:22:00.123-0400", "2025-06-04T18:22:00-04:00"),
        ("2025-06-04", "2025-06-04"),
        ("Wed, 04 Jun 2025 18:22:00 GMT", "2025-06-04T18:22:00+00:00"),
        ("1749061320", "2025-06-04T18:22:00+00:00"),
        ("0001-01-01T00:00:00Z", None),
        ("yesterday", None),
    ],
)
def test_declared_dates_become_iso_8601(raw: str, iso: str | None) -> None:
    assert to_iso8601(raw) == iso
