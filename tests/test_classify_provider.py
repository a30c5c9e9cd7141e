"""A worker's classifier provider swaps in a newly activated model without being recreated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from workers.adapters.model_registry import ModelRegistry
from workers.stages.classify import ClassifierProvider
from workers.stages.classify.artifact import dump_model
from workers.stages.classify.features import doc_text
from workers.stages.classify.linear import fit_linear

FIXTURES = Path(__file__).parent / "fixtures" / "classify"


def _trained_artifact() -> tuple[str, bytes]:
    rows = [json.loads(line) for line in (FIXTURES / "train.jsonl").read_text().splitlines()]
    model = fit_linear([doc_text(r["title"], r["text"]) for r in rows], [r["label"] for r in rows])
    return model.version, dump_model(model)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_provider_picks_up_a_newly_activated_model_and_returns_to_default(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = FakeClock()
    registry = ModelRegistry(redis_client, key_prefix)
    provider = ClassifierProvider(source=registry, check_interval=2.0, clock=clock)
    default_version = provider.current().version
    assert default_version.startswith("zeroshot-")

    version, data = _trained_artifact()
    registry.publish(version, data)  # what `newsflow train --activate` does
    registry.activate(version)

    assert provider.current().version == default_version  # not polled again yet
    clock.now += 2.5
    current = provider.current()
    assert current.version == version
    assert (
        current.classify("Cup final", "The striker scored in the match.").model_version == version
    )

    registry.deactivate()
    clock.now += 2.5
    assert provider.current().version == default_version


def test_activating_an_unpublished_version_is_refused(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    with pytest.raises(KeyError):
        ModelRegistry(redis_client, key_prefix).activate("linear-doesnotexist")


def test_a_corrupt_active_artifact_keeps_the_current_model(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = FakeClock()
    provider = ClassifierProvider(
        source=ModelRegistry(redis_client, key_prefix), check_interval=1.0, clock=clock
    )
    before = provider.current().version
    registry = ModelRegistry(redis_client, key_prefix)
    registry.publish("broken-1", b"not an artifact")
    registry.activate("broken-1")
    clock.now += 1.5
    assert provider.current().version == before


def test_artifacts_live_under_the_deployment_key_prefix(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    version, data = _trained_artifact()
    registry = ModelRegistry(redis_client, key_prefix)
    registry.publish(version, data)
    registry.activate(version)
    assert redis_client.get(f"{key_prefix}:classifier:active") == version.encode()
    assert redis_client.get(f"{key_prefix}:classifier:artifact:{version}") == data


def test_classifying_an_article_loads_neither_scipy_nor_scikit_learn(tmp_path: Path) -> None:
    """A classify worker only predicts, one article at a time: ~10 MB of SciPy is for fitting."""
    _, artifact = _trained_artifact()
    (tmp_path / "model.bin").write_bytes(artifact)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from workers.stages.classify import ClassifierProvider\n"
        "from workers.stages.classify.artifact import load_model\n"
        "from workers.stages.classify.provider import build_classifier\n"
        "ClassifierProvider().current().classify('Rates rise', 'The bank raised rates.', 'en')\n"
        f"model = load_model(Path({str(tmp_path / 'model.bin')!r}).read_bytes())\n"
        "build_classifier(model, 0.3).classify('Rates rise', 'The bank raised rates.', 'en')\n"
        "print(sorted({'scipy', 'sklearn'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split()[-1] == "[]"
