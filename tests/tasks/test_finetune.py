"""Fine-tuning a pretrained encoder: leakage check, splits, methods, saved classifier."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from recsft.tasks.baselines import BagVocabulary, bag_features, logistic_regression  # noqa: E402
from recsft.tasks.classifier import POOLINGS, SequenceClassifier  # noqa: E402
from recsft.tasks.finetune import (  # noqa: E402
    FinetuneConfig,
    finetune,
    split_examples,
    subsample,
    task_data,
    train_classifier,
)
from recsft.tasks.labels import DAY, TaskConfig, TaskExamples  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402

CUTOFF = 1_600_000_000 + 20 * DAY


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> str:
    from recsft.training.pipeline import run_training

    config = tiny_config(tmp_path_factory.mktemp("pretrain"), epochs=5, eval_every=5)
    config.data.preprocess["end"] = CUTOFF
    run_training(config)
    return config.run_dir


def small(pretrained: str, **kwargs) -> FinetuneConfig:
    fields = dict(task=TaskConfig(task="churn", horizon_days=7), epochs=3, n_resamples=50)
    fields.update(kwargs)
    return FinetuneConfig(pretrained=pretrained, **fields)


def test_task_data_uses_the_pretraining_end_as_cutoff(pretrained) -> None:
    run, examples, record = task_data(small(pretrained))
    assert examples.cutoff == CUTOFF == record["pretraining_end"]
    assert max(max(times) for times in examples.timestamps) < CUTOFF
    assert record["examples"] == len(examples) > 100


def test_encoder_that_saw_the_label_window_is_refused(pretrained, tmp_path) -> None:
    with pytest.raises(ValueError, match="the encoder would have seen the label window"):
        task_data(small(pretrained, task=TaskConfig(task="churn", cutoff=CUTOFF - DAY)))
    from recsft.training.pipeline import run_training

    config = tiny_config(tmp_path, epochs=1, eval_every=1)
    run_training(config)
    with pytest.raises(ValueError, match="pretrained on events up to the end of the log"):
        task_data(small(config.run_dir))


def test_split_is_stratified_and_disjoint(pretrained) -> None:
    _, examples, _ = task_data(small(pretrained))
    train, valid, test = split_examples(examples, 0.2, 0.2, seed=0)
    users = [set(part.user_ids) for part in (train, valid, test)]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
    assert sum(map(len, users)) == len(examples)
    share = examples.labels.mean()
    for part in (train, valid, test):
        assert abs(part.labels.mean() - share) < 0.05


def test_label_budget_subsamples_training_users_only(pretrained) -> None:
    _, examples, _ = task_data(small(pretrained))
    train, _, _ = split_examples(examples, 0.2, 0.2, seed=0)
    few = subsample(train, 0.1, seed=0)
    assert set(few.user_ids) <= set(train.user_ids)
    assert abs(len(few) - 0.1 * len(train)) <= 2
    assert set(few.labels.tolist()) == set(train.labels.tolist())
    with pytest.raises(ValueError, match="train_fraction must be in"):
        small(pretrained, train_fraction=0.0)
    record = finetune(small(pretrained, train_fraction=0.2, epochs=1),
                      methods=("most_frequent",))
    full, _, _ = split_examples(examples, 0.15, 0.15, seed=42)  # the config's split
    assert record["splits"]["train"]["users"] == pytest.approx(0.2 * len(full), abs=2)


def test_finetune_records_every_method_and_saves_the_classifier(pretrained, tmp_path) -> None:
    out = tmp_path / "churn"
    record = finetune(small(pretrained), output_dir=str(out))
    assert set(record["methods"]) == {"pretrained", "scratch", "logistic_regression",
                                      "history_length", "most_frequent"}
    for result in record["methods"].values():
        assert 0.0 <= result["test"]["roc_auc"] <= 1.0
        assert result["intervals"]["roc_auc"]["low"] <= result["intervals"]["roc_auc"]["high"]
        assert 0.0 <= result["threshold"] <= 1.0
    assert record["methods"]["most_frequent"]["test"]["roc_auc"] == 0.5
    assert record["splits"]["test"]["users"] > 0
    assert {"metrics.json", "training_log.jsonl", "head.safetensors", "task.json",
            "model.safetensors"} <= set(os.listdir(out))
    model, task = SequenceClassifier.from_pretrained(str(out))
    assert task["classes"] == ["active", "churn"] and model.pooling == "mean"


@pytest.mark.parametrize("pooling", POOLINGS)
def test_poolings_and_frozen_encoder(pretrained, pooling) -> None:
    config = small(pretrained, pooling=pooling, freeze_encoder=True, epochs=2)
    _, examples, _ = task_data(config)
    splits = split_examples(examples, 0.2, 0.2, seed=0)
    from transformers import AutoModel

    before = AutoModel.from_pretrained(pretrained).state_dict()
    trained = train_classifier(config, splits)
    assert trained["test"].shape == (len(splits[2]), 2)
    np.testing.assert_allclose(trained["test"].sum(axis=1), 1.0, rtol=1e-6)
    after = trained["model"].encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_scratch_init_is_random_but_keeps_buffers(pretrained) -> None:
    from recsft.tasks.finetune import _encoder

    pre = _encoder(pretrained, "pretrained", seed=0)
    fresh = _encoder(pretrained, "scratch", seed=0)
    weight = "embeddings.items.weight"
    assert not torch.equal(pre.state_dict()[weight], fresh.state_dict()[weight])
    for name, buffer in pre.named_buffers():
        assert torch.equal(buffer, dict(fresh.named_buffers())[name])


def test_logistic_regression_finds_a_planted_signal() -> None:
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 2, n)
    items = [[f"i{rng.integers(0, 50)}" for _ in range(5)] + (["signal"] if y else [])
             for y in labels]
    examples = TaskExamples(user_ids=[f"u{i}" for i in range(n)], items=items,
                            event_types=[["view"] * len(row) for row in items],
                            timestamps=[list(range(len(row))) for row in items],
                            labels=labels, classes=["no", "yes"], cutoff=0, window_end=1)
    train, valid, test = split_examples(examples, 0.2, 0.2, seed=0)
    vocabulary = BagVocabulary(train)
    features = bag_features(test, vocabulary)
    assert features.shape == (len(test), vocabulary.width)
    fitted = logistic_regression(train, valid, test)
    predicted = fitted["test"].argmax(axis=1)
    assert (predicted == test.labels).mean() == 1.0


def test_finetune_task_command(pretrained, tmp_path, capsys) -> None:
    from recsft.cli import main

    out = tmp_path / "purchase"
    assert main(["finetune-task", "--task", "purchase", "--from", pretrained, "--output",
                 str(out), "--epochs", "1", "--n-resamples", "20",
                 "--methods", "pretrained,most_frequent"]) == 0
    text = capsys.readouterr().out
    assert "task purchase" in text and "most_frequent" in text and "ROC-AUC [95% CI]" in text
    assert set(json.loads((out / "metrics.json").read_text())["methods"]) == {
        "pretrained", "most_frequent"}
    assert main(["finetune-task", "--task", "churn", "--from", pretrained,
                 "--methods", "svm"]) == 2
    assert "unknown method(s) ['svm']" in capsys.readouterr().err
