"""Metrics of a classifier's probabilities, with bootstrap confidence intervals.

Binary tasks report ROC-AUC, PR-AUC, log loss and Brier score of the positive-class probability
(:mod:`recsft.evaluation.metrics.probabilistic`) and accuracy, precision, recall and F1 of the
decisions at a threshold (:mod:`recsft.evaluation.metrics.classification`). The threshold is
chosen on the validation set to maximise F1, for every method alike, and recorded. Multi-class
tasks report accuracy and macro precision/recall/F1 of the most probable class, macro one-vs-rest
ROC-AUC and PR-AUC, and log loss.

Confidence intervals resample the test examples with replacement (percentile bootstrap, 95 %).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsft.evaluation.metrics.classification import classification_metrics
from recsft.evaluation.metrics.probabilistic import average_precision, roc_auc

__all__ = ["best_threshold", "task_metrics", "bootstrap_intervals"]


def best_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The positive-class threshold that maximises F1 on ``(probabilities (n, 2), labels)``."""
    positive = probabilities[:, 1]
    candidates = np.unique(np.round(positive, 6))
    if candidates.size > 200:
        candidates = np.quantile(positive, np.linspace(0.0, 1.0, 201))
    best, best_f1 = 0.5, -1.0
    for threshold in candidates:
        predicted = (positive >= threshold).astype(np.int64)
        f1 = classification_metrics(predicted, labels, average="binary")["f1"]
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def task_metrics(probabilities: np.ndarray, labels: np.ndarray,
                 threshold: float | None = None) -> dict[str, float]:
    """Metrics of class probabilities ``(n, classes)`` against labels ``(n,)``.

    Args:
        probabilities: Rows summing to 1.
        labels: Integer classes.
        threshold: Binary tasks: the positive-class decision threshold (default 0.5).

    Returns:
        ``accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss`` (and ``brier`` for
        binary tasks). An AUC over a sample with one class only is NaN.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = probabilities.shape[1]
    clipped = np.clip(probabilities[np.arange(labels.size), labels], 1e-15, 1.0)
    log_loss = float(-np.mean(np.log(clipped)))
    if n_classes == 2:
        positive = probabilities[:, 1]
        predicted = (positive >= (0.5 if threshold is None else threshold)).astype(np.int64)
        out = classification_metrics(predicted, labels, average="binary")
        both = np.unique(labels).size == 2
        out.update(roc_auc=roc_auc(positive, labels) if both else float("nan"),
                   pr_auc=average_precision(positive, labels) if both else float("nan"),
                   log_loss=log_loss, brier=float(np.mean((positive - labels) ** 2)))
        return out
    predicted = probabilities.argmax(axis=1)
    out = classification_metrics(predicted, labels, average="macro",
                                 labels=list(range(n_classes)))
    aucs, aps = [], []
    for c in range(n_classes):
        target = (labels == c).astype(np.int64)
        if 0 < target.sum() < target.size:
            aucs.append(roc_auc(probabilities[:, c], target))
            aps.append(average_precision(probabilities[:, c], target))
    out.update(roc_auc=float(np.mean(aucs)) if aucs else float("nan"),
               pr_auc=float(np.mean(aps)) if aps else float("nan"), log_loss=log_loss)
    return out


def bootstrap_intervals(probabilities: np.ndarray, labels: np.ndarray,
                        threshold: float | None = None, n_resamples: int = 1000,
                        seed: int = 0, keys: tuple[str, ...] = ("roc_auc", "pr_auc", "f1",
                                                                "accuracy")
                        ) -> dict[str, dict[str, Any]]:
    """95 % percentile-bootstrap intervals of :func:`task_metrics` over the examples.

    Returns:
        ``{metric: {"low", "high", "n_resamples"}}`` for each of ``keys``.
    """
    rng = np.random.default_rng(seed)
    n = labels.size
    draws: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(n_resamples):
        rows = rng.integers(0, n, n)
        values = task_metrics(probabilities[rows], labels[rows], threshold)
        for key in keys:
            draws[key].append(values[key])
    out = {}
    for key, values in draws.items():
        finite = np.asarray([v for v in values if np.isfinite(v)])
        low, high = (np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan))
        out[key] = {"low": float(low), "high": float(high), "n_resamples": n_resamples}
    return out
