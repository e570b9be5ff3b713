"""ROC-AUC, PR-AUC, log loss, Brier score and calibration error of binary probabilities.

Self-contained (absolute imports of numpy, scikit-learn, datasets and evaluate only, exactly one
``evaluate.Metric`` subclass) so it also works as a local ``evaluate`` metric script.

For predicted probabilities ``p_i`` of the positive class and labels ``y_i`` in {0, 1}:

* ``roc_auc`` — probability that a random positive scores above a random negative, ties
  counting one half (the area under the ROC curve; ``sklearn.metrics.roc_auc_score``);
* ``pr_auc`` — average precision: ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score
  thresholds, highest first (``sklearn.metrics.average_precision_score``);
* ``log_loss`` — ``-mean(y log p + (1 - y) log(1 - p))`` with ``p`` clipped to
  ``[1e-15, 1 - 1e-15]``;
* ``brier`` — ``mean((p - y)^2)``;
* ``ece`` — expected calibration error over ``n_bins`` equal-width bins of ``p``:
  ``sum_b (n_b / n) |mean(y in b) - mean(p in b)|``.

``roc_auc`` and ``pr_auc`` are NaN when the references hold a single class.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import numpy as np
import sklearn.metrics

_DESCRIPTION = """
Threshold-free and calibration metrics of predicted probabilities for a binary target:
ROC-AUC, PR-AUC (average precision), log loss, Brier score and expected calibration error.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted probability of the positive class, in [0, 1].
    references (`list` of `int`): labels, 0 or 1.
    n_bins (`int`, defaults to 10): equal-width bins of the calibration error.
Returns:
    `dict` with float `roc_auc`, `pr_auc`, `log_loss`, `brier` and `ece`.
Examples:
    >>> metric = ProbabilisticMetrics()
    >>> metric.compute(predictions=[0.9, 0.2, 0.6, 0.4], references=[1, 0, 0, 1])["roc_auc"]
    0.75
"""

_CITATION = """
@article{fawcett2006introduction,
  title={An introduction to ROC analysis},
  author={Fawcett, Tom},
  journal={Pattern Recognition Letters},
  volume={27},
  number={8},
  pages={861--874},
  year={2006}
}
"""


def _inputs(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predictions, dtype=np.float64).reshape(-1)
    y = np.asarray(references).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"predictions and references must have the same length, got "
                         f"{p.shape[0]} and {y.shape[0]}")
    if p.size == 0:
        raise ValueError("cannot compute metrics over zero samples")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("references must be 0 or 1")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("predictions must be probabilities in [0, 1]")
    return p, y.astype(np.int64)


def roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn), NaN when ``y`` holds a single class."""
    if y.min() == y.max():
        return float("nan")
    return float(sklearn.metrics.roc_auc_score(y, p))


def average_precision(p: np.ndarray, y: np.ndarray) -> float:
    """Average precision (scikit-learn), NaN when ``y`` holds a single class."""
    if y.min() == y.max():
        return float("nan")
    return float(sklearn.metrics.average_precision_score(y, p))


def calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    confidence = np.bincount(bins, weights=p, minlength=n_bins)
    observed = np.bincount(bins, weights=y.astype(np.float64), minlength=n_bins)
    return float(np.abs(observed - confidence).sum() / p.size)


def probabilistic_metrics(predictions: Any, references: Any, n_bins: int = 10) -> dict[str, float]:
    """ROC-AUC, PR-AUC, log loss, Brier score and ECE (see the module docstring)."""
    p, y = _inputs(predictions, references)
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": roc_auc(p, y),
        "pr_auc": average_precision(p, y),
        "log_loss": float(sklearn.metrics.log_loss(y, clipped, labels=[0, 1])),
        "brier": float(sklearn.metrics.brier_score_loss(y, p, pos_label=1)),
        "ece": calibration_error(p, y, n_bins),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ProbabilisticMetrics(evaluate.Metric):
    """ROC-AUC, PR-AUC, log loss, Brier score and ECE as an ``evaluate.Metric``."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions: Any, references: Any, n_bins: int = 10) -> dict[str, float]:
        return probabilistic_metrics(predictions, references, n_bins)
