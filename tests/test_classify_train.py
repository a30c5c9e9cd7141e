"""Training: fit -> artifact -> reload gives the same answers; the artifact holds no pickle."""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import redis

from workers.commands import classify as command
from workers.settings import Settings
from workers.stages.classify.artifact import ArtifactError, dump_model, load_model, read_model
from workers.stages.classify.features import doc_text
from workers.stages.classify.linear import LinearClassifier, fit_linear

FIXTURES = Path(__file__).parent / "fixtures" / "classify"


def _rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in (FIXTURES / "train.jsonl").read_text().splitlines()]


def _fit_words() -> tuple[list[str], list[str], LinearClassifier]:
    rows = _rows()
    texts = [doc_text(r["title"], r["text"]) for r in rows]
    labels = [r["label"] for r in rows]
    return texts, labels, LinearClassifier(fit_linear(texts, labels), threshold=0.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsflow")
    command.register(parser.add_subparsers())
    return parser


def test_trained_model_labels_new_articles_of_its_training_topics() -> None:
    _, _, clf = _fit_words()
    assert clf.classify("Goalkeeper saves penalty", "The team won the match 1-0.").label == "sport"
    assert clf.classify("Profits rise", "The company's shares rose after profits.").label == (
        "business"
    )


def test_artifact_round_trip_reproduces_probabilities_and_version(tmp_path: Path) -> None:
    texts, _, clf = _fit_words()
    path = tmp_path / "model.npz"
    path.write_bytes(dump_model(clf.model))
    reloaded = LinearClassifier(read_model(path), threshold=0.0)
    assert reloaded.version == clf.version
    assert reloaded.model.labels == clf.model.labels
    assert np.allclose(reloaded.probabilities(texts), clf.probabilities(texts), atol=1e-6)


def test_artifact_arrays_load_without_pickle(tmp_path: Path) -> None:
    _, _, clf = _fit_words()
    data = dump_model(clf.model)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        assert {"meta", "vocabulary", "idf", "word_coef", "intercept"} <= set(z.files)
        assert all(z[name].dtype != object for name in z.files)


def test_version_changes_when_the_training_data_changes() -> None:
    texts, labels, clf = _fit_words()
    other = fit_linear(texts[1:], labels[1:])
    assert other.version != clf.version
    assert clf.version.startswith("linear-")


def test_bytes_that_are_not_an_artifact_are_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.txt", "hello")
    for junk in (b"not a zip", buf.getvalue()):
        with pytest.raises(ArtifactError):
            load_model(junk)


def test_train_command_prints_evaluation_and_writes_a_loadable_artifact(tmp_path: Path) -> None:
    out = tmp_path / "m.npz"
    args = _parser().parse_args(
        [
            "train",
            "--data",
            str(FIXTURES / "train.jsonl"),
            "--out",
            str(out),
            "--features",
            "words",
            "--holdout",
            "0.25",
        ]
    )
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert args.func(args, Settings()) == 0
    report = buf.getvalue()
    assert "accuracy:" in report
    assert "macro-F1:" in report
    assert "confusion matrix" in report
    model = read_model(out)
    assert set(model.labels) == {"sport", "business", "technology"}
    assert model.version in report


def test_train_command_reads_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "train.csv"
    lines = ["label,title,text"] + [f'{r["label"]},"{r["title"]}","{r["text"]}"' for r in _rows()]
    csv_path.write_text("\n".join(lines) + "\n")
    args = _parser().parse_args(
        ["train", "--data", str(csv_path), "--out", str(tmp_path / "m.npz"), "--features", "words"]
    )
    with redirect_stdout(io.StringIO()):
        assert args.func(args, Settings()) == 0
    assert read_model(tmp_path / "m.npz").features == "words"


def test_classify_command_prints_one_json_line_per_article(tmp_path: Path) -> None:
    model = tmp_path / "m.npz"
    train = _parser().parse_args(
        [
            "train",
            "--data",
            str(FIXTURES / "train.jsonl"),
            "--out",
            str(model),
            "--features",
            "words",
        ]
    )
    with redirect_stdout(io.StringIO()):
        train.func(train, Settings())
    args = _parser().parse_args(
        ["classify", str(FIXTURES / "articles.jsonl"), "--model", str(model)]
    )
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert args.func(args, Settings(uncertain_threshold=0.0)) == 0
    out = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [o["doc_id"] for o in out] == ["a1", "a2", "a3"]
    assert [o["label"] for o in out[:2]] == ["sport", "business"]
    assert [o["language"] for o in out] == ["en", "en", "fr"]
    assert all(set(o) >= {"doc_id", "label", "confidence", "language"} for o in out)
    assert {o["model_version"] for o in out} == {read_model(model).version}


def test_classify_command_without_a_model_uses_the_taxonomy_given(tmp_path: Path) -> None:
    taxonomy = tmp_path / "t.yaml"
    taxonomy.write_text(
        "labels:\n"
        "  - {name: Sports, description: Sports news about games, teams and players.}\n"
        "  - {name: Money, description: Business news about companies, markets and profits.}\n"
        "  - {name: Politics, description: News about government, elections and parliament.}\n"
    )
    args = _parser().parse_args(
        ["classify", str(FIXTURES / "articles.jsonl"), "--taxonomy", str(taxonomy)]
    )
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert args.func(args, Settings(uncertain_threshold=0.0)) == 0
    out = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [o["label"] for o in out[:2]] == ["Sports", "Money"]
    assert all(o["model_version"].startswith("zeroshot-") for o in out)


def test_train_activate_never_prints_the_redis_password(
    tmp_path: Path, redis_client: redis.Redis, key_prefix: str
) -> None:
    """Against a Redis secured with an ACL user, as production runs it."""
    user, password = f"{key_prefix.replace(':', '-')}-user", "s3cret-pw"
    redis_client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
        commands=["+@all"],
    )  # fmt: skip
    try:
        db = redis_client.connection_pool.connection_kwargs["db"]
        url = f"redis://{user}:{password}@127.0.0.1:6379/{db}"
        settings = Settings().with_overrides(redis_url=url, key_prefix=key_prefix)
        args = _parser().parse_args(
            ["train", "--data", str(FIXTURES / "train.jsonl"), "--out", str(tmp_path / "m.npz"),
             "--features", "words", "--activate"]
        )  # fmt: skip
        buf = io.StringIO()
        with redirect_stdout(buf):
            assert args.func(args, settings) == 0
        assert "activated" in buf.getvalue()
        assert password not in buf.getvalue()
        assert f"{user}:***@" in buf.getvalue()
    finally:
        redis_client.acl_deluser(user)
