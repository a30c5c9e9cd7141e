"""The main-text extractor's fast path: trafilatura's fast cascade is used only where its full
cascade (with the readability/justext fallbacks) would give the same text."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml.html import HtmlElement

from workers.stages.clean import trafilatura_text as body
from workers.stages.clean.dom_prune import prune_furniture
from workers.stages.clean.html import parse_html

PAGES = Path(__file__).parent / "pages" / "html"
HTML_PAGES = sorted(PAGES.glob("*.html"))


def _tree(html: str) -> HtmlElement:
    tree = parse_html(html)
    assert tree is not None
    return prune_furniture(tree)


def _lines(tree: HtmlElement, *, fast: bool) -> list[str]:
    document = body._bare_extraction(tree, None, fast=fast)
    text = document.text if document is not None else ""
    return [line for line in text.split("\n") if line.strip()]


@pytest.mark.parametrize("page", HTML_PAGES, ids=lambda p: p.name)
def test_extraction_equals_the_full_cascade_on_every_fixture_page(page: Path) -> None:
    tree = _tree(page.read_text(encoding="utf-8"))
    assert body.extract_with_trafilatura(tree, None) == _lines(tree, fast=False)


@pytest.mark.parametrize("name", ["stadtblatt_de.html", "radio_news_bridge.html"])
def test_ordinary_article_pages_take_the_fast_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the speed-up itself: a trafilatura upgrade that changes its output shape must not
    silently send every page back through the full cascade."""
    runs: list[bool] = []
    real = body._bare_extraction

    def spy(tree: HtmlElement, url: str | None, *, fast: bool) -> object:
        runs.append(fast)
        return real(tree, url, fast=fast)

    monkeypatch.setattr(body, "_bare_extraction", spy)
    body.extract_with_trafilatura(_tree((PAGES / name).read_text(encoding="utf-8")), None)
    assert runs == [True]


def test_pages_with_little_text_go_straight_to_the_full_cascade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[bool] = []
    real = body._bare_extraction

    def spy(tree: HtmlElement, url: str | None, *, fast: bool) -> object:
        runs.append(fast)
        return real(tree, url, fast=fast)

    monkeypatch.setattr(body, "_bare_extraction", spy)
    body.extract_with_trafilatura(_tree((PAGES / "not_found.html").read_text()), None)
    assert runs == [False]


def test_table_laid_out_pages_go_straight_to_the_full_cascade() -> None:
    cells = "".join(
        f"<tr><td>Row {i} of the price list with several words</td></tr>" for i in range(40)
    )
    tree = _tree(f"<html><body><p>Prices.</p><table>{cells}</table></body></html>")
    assert body._table_layout(tree)
    assert not body._table_layout(_tree("<html><body><p>One paragraph.</p></body></html>"))


def test_page_text_bound_leaves_out_scripts_and_styles() -> None:
    tree = _tree(
        "<html><head><style>p { color: red }</style><script>var a = 1;</script></head>"
        "<body><p>Four   words of\n text.</p><script>track()</script></body></html>"
    )
    assert body._page_text_chars(tree) >= len("Four words of text.")
    assert body._page_text_chars(tree) <= len("Four words of text.") + 3


def test_justext_stoplist_keeps_its_words_and_its_hash_after_the_speed_fix() -> None:
    import trafilatura.external

    body._cache_justext_stoplist_hash()
    stoplist = trafilatura.external.JT_STOPLIST
    assert isinstance(stoplist, body._HashOnceTuple)
    plain = tuple(stoplist)
    assert type(plain) is tuple
    assert len(plain) > 10_000
    assert stoplist == plain
    assert hash(stoplist) == hash(plain)
