"""The clean stage on whole fixture pages: what stays, what goes, the metadata, the skips.

Pages live in tests/pages/html (written for these tests in the shapes real sites use); the
hand-written expectations are in tests/pages/expectations.json and clean_page's full output is
pinned in tests/pages/golden (regenerate with tests/pages/regenerate_goldens.py, then review).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from workers.errors import SkipArticle
from workers.models import CleanedArticle
from workers.stages.clean import clean_page

PAGES = Path(__file__).parent / "pages"
EXPECTATIONS: dict[str, dict[str, Any]] = json.loads(
    (PAGES / "expectations.json").read_text(encoding="utf-8")
)
# The regeneration script is a file beside the pages, not a package module: load it by path so the
# golden test and the script share one definition of a golden record.
_SPEC = importlib.util.spec_from_file_location(
    "regenerate_goldens", PAGES / "regenerate_goldens.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
_GOLDENS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_GOLDENS)
ARTICLES = sorted(name for name, exp in EXPECTATIONS.items() if "skipped" not in exp)
SKIPS = sorted(name for name, exp in EXPECTATIONS.items() if "skipped" in exp)


def _clean(name: str) -> CleanedArticle:
    document = (PAGES / "html" / name).read_text(encoding="utf-8")
    return clean_page(document, EXPECTATIONS[name].get("url"))


@pytest.mark.parametrize("name", ARTICLES)
def test_story_paragraphs_are_kept(name: str) -> None:
    text = _clean(name).text
    missing = [s for s in EXPECTATIONS[name]["keep"] if s not in text]
    assert not missing


@pytest.mark.parametrize("name", ARTICLES)
def test_page_furniture_is_removed(name: str) -> None:
    text = _clean(name).text
    leaked = [s for s in EXPECTATIONS[name]["drop"] if s in text]
    assert not leaked


@pytest.mark.parametrize("name", ARTICLES)
def test_metadata_fields_are_extracted(name: str) -> None:
    article = _clean(name)
    for field, expected in EXPECTATIONS[name]["meta"].items():
        value = getattr(article, field)
        assert (list(value) if isinstance(value, tuple) else value) == expected, field


@pytest.mark.parametrize("name", ARTICLES)
def test_text_is_paragraphs_joined_by_blank_lines(name: str) -> None:
    article = _clean(name)
    assert "\n\n" in article.text
    assert all(p == p.strip() and "\n" not in p for p in article.paragraphs)


def test_jsonld_article_body_keeps_its_paragraph_breaks() -> None:
    assert (
        len(_clean("diario_jsonld_es.html").paragraphs)
        == EXPECTATIONS["diario_jsonld_es.html"]["paragraphs"]
    )


@pytest.mark.parametrize("name", SKIPS)
def test_not_an_article_is_skipped_with_its_reason(name: str) -> None:
    with pytest.raises(SkipArticle) as caught:
        _clean(name)
    assert caught.value.reason == EXPECTATIONS[name]["skipped"]
    assert caught.value.detail


@pytest.mark.parametrize("name", sorted(p.name for p in (PAGES / "html").iterdir()))
def test_output_matches_the_reviewed_golden(name: str) -> None:
    golden = json.loads((PAGES / "golden" / f"{name}.json").read_text(encoding="utf-8"))
    assert (
        _GOLDENS.golden_record(PAGES / "html" / name, EXPECTATIONS.get(name, {}).get("url"))
        == golden
    )
