"""The topic taxonomy: which labels exist and how each is described, loaded from YAML.

Shape: `labels: [{name, description, keywords?}]`. The bundled default lives in
`config/taxonomy.yaml` for operators and as an identical copy in this package's `data/` so an
installed wheel has it too (a test fails when the two differ).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workers.models import UNCERTAIN

BUNDLED_TAXONOMY = Path(__file__).resolve().parent / "data" / "taxonomy.yaml"


class TaxonomyError(ValueError):
    """The taxonomy file is missing, unreadable or not of the documented shape."""


@dataclass(frozen=True, slots=True)
class Label:
    """One topic: its stored name, a one-line description, and optional typical words."""

    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered set of labels; `digest` identifies the exact content (part of model versions)."""

    labels: tuple[Label, ...]
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def digest(self) -> str:
        blob = json.dumps(
            [[lb.name, lb.description, list(lb.keywords)] for lb in self.labels], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read a taxonomy YAML; None or "" means the bundled default."""
    file = Path(path) if path else BUNDLED_TAXONOMY
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy {file}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"taxonomy {file} is not valid YAML: {exc}") from exc
    return taxonomy_from_dict(raw, source=str(file))


def taxonomy_from_dict(raw: Any, source: str = "") -> Taxonomy:
    """Validate the parsed YAML shape and build a `Taxonomy`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("labels"), list):
        raise TaxonomyError(f"taxonomy {source or '<dict>'} must be a mapping with a 'labels' list")
    labels: list[Label] = []
    for i, entry in enumerate(raw["labels"]):
        if isinstance(entry, str):  # a bare name is allowed: the name is its own description
            entry = {"name": entry}
        if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
            raise TaxonomyError(f"taxonomy {source}: label #{i + 1} needs a 'name'")
        keywords = entry.get("keywords") or []
        if not isinstance(keywords, list):
            raise TaxonomyError(f"taxonomy {source}: keywords of {entry['name']!r} must be a list")
        labels.append(
            Label(
                name=str(entry["name"]).strip(),
                description=str(entry.get("description") or "").strip(),
                keywords=tuple(str(k).strip() for k in keywords if str(k).strip()),
            )
        )
    names = [lb.name for lb in labels]
    if len(labels) < 2:
        raise TaxonomyError(f"taxonomy {source}: needs at least two labels")
    if len(set(names)) != len(names):
        raise TaxonomyError(f"taxonomy {source}: label names repeat: {names}")
    if UNCERTAIN in names:
        raise TaxonomyError(f"taxonomy {source}: {UNCERTAIN!r} is reserved for low confidence")
    return Taxonomy(labels=tuple(labels), source=source)
