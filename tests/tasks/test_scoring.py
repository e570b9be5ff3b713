"""Task metrics agree with scikit-learn; the F1 threshold is chosen on validation data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from recsft.tasks.scoring import best_threshold, bootstrap_intervals, task_metrics


def binary(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    positive = np.clip(0.3 * labels + rng.uniform(0, 0.7, n), 0, 1)
    return np.stack([1 - positive, positive], axis=1), labels


def test_binary_metrics_match_sklearn() -> None:
    p, y = binary()
    got = task_metrics(p, y, threshold=0.45)
    decided = (p[:, 1] >= 0.45).astype(int)
    assert got["f1"] == pytest.approx(sk.f1_score(y, decided))
    assert got["precision"] == pytest.approx(sk.precision_score(y, decided))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p[:, 1]))
    assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, p[:, 1]))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, p))
    assert got["brier"] == pytest.approx(sk.brier_score_loss(y, p[:, 1]))


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = task_metrics(p, y)
    assert got["f1"] == pytest.approx(sk.f1_score(y, p.argmax(1), average="macro"))
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p, multi_class="ovr"))
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, p.argmax(1)))


def test_best_threshold_maximises_f1() -> None:
    p, y = binary(2)
    threshold = best_threshold(p, y)
    best = task_metrics(p, y, threshold)["f1"]
    for other in np.linspace(0.05, 0.95, 19):
        assert task_metrics(p, y, other)["f1"] <= best + 1e-12


def test_bootstrap_intervals_cover_the_estimate() -> None:
    p, y = binary(3)
    point = task_metrics(p, y, 0.5)
    intervals = bootstrap_intervals(p, y, 0.5, n_resamples=200, seed=0)
    for key in ("roc_auc", "f1", "accuracy", "pr_auc"):
        assert intervals[key]["low"] <= point[key] <= intervals[key]["high"]
        assert intervals[key]["high"] - intervals[key]["low"] < 0.25
    one_class = task_metrics(p[y == 1], y[y == 1])
    assert np.isnan(one_class["roc_auc"])
