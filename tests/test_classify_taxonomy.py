"""The taxonomy file: shape, validation, and the bundled copy shipped inside the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.stages.classify import TaxonomyError, load_taxonomy
from workers.stages.classify.taxonomy import BUNDLED_TAXONOMY

REPO = Path(__file__).resolve().parents[1]


def test_bundled_taxonomy_is_identical_to_the_operator_copy_in_config() -> None:
    assert BUNDLED_TAXONOMY.read_bytes() == (REPO / "config" / "taxonomy.yaml").read_bytes()


def test_default_taxonomy_covers_general_news_topics() -> None:
    names = set(load_taxonomy().names)
    assert {"world", "politics", "business", "technology", "science", "health", "sport"} <= names
    assert all(label.description for label in load_taxonomy().labels)


def test_a_taxonomy_file_can_be_swapped_in_with_its_own_label_names(tmp_path: Path) -> None:
    path = tmp_path / "ag.yaml"
    path.write_text(
        "labels:\n  - name: World\n    description: international news\n"
        "  - {name: Sci/Tech, description: science and technology, keywords: [software]}\n"
    )
    taxonomy = load_taxonomy(path)
    assert taxonomy.names == ("World", "Sci/Tech")
    assert taxonomy.labels[1].keywords == ("software",)


def test_digest_changes_when_a_description_changes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("labels: [{name: x, description: one}, {name: y}]\n")
    b.write_text("labels: [{name: x, description: two}, {name: y}]\n")
    assert load_taxonomy(a).digest != load_taxonomy(b).digest


@pytest.mark.parametrize(
    "content",
    [
        "labels: []\n",
        "labels: [{name: a}]\n",
        "labels: [{name: a}, {name: a}]\n",
        "labels: [{name: a}, {name: uncertain}]\n",
        "labels: [{description: no name}, {name: b}]\n",
        "topics: [a, b]\n",
    ],
)
def test_malformed_taxonomies_are_rejected_with_a_reason(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(TaxonomyError):
        load_taxonomy(path)


def test_a_missing_taxonomy_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "absent.yaml")
