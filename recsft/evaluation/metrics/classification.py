"""Accuracy, precision, recall and F1 for single-label classification, on scikit-learn.

Self-contained (absolute imports of numpy, scikit-learn, datasets and evaluate only, exactly one
``evaluate.Metric`` subclass) so it also works as a local ``evaluate`` metric script.

For a label ``l`` let ``tp_l`` be the samples predicted ``l`` whose reference is ``l``,
``pp_l`` the samples predicted ``l`` and ``t_l`` the samples whose reference is ``l``.

* ``accuracy = mean(prediction == reference)`` over all samples.
* ``binary``: ``precision = tp / pp``, ``recall = tp / t``, ``f1 = 2 tp / (pp + t)``
  for ``l = pos_label``.
* ``macro``: the unweighted mean over ``labels`` of the per-label precision, recall and F1.
* ``micro``: ``precision = sum tp / sum pp``, ``recall = sum tp / sum t`` and
  ``f1 = 2 sum tp / (sum pp + sum t)``, sums over ``labels``.

A ratio whose denominator is zero is 0.0 (``zero_division=0``). The counting is
``sklearn.metrics.precision_recall_fscore_support``; this module adds the input checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import evaluate
import numpy as np
import sklearn.metrics

_DESCRIPTION = """
Accuracy, precision, recall and F1 for single-label (binary or multi-class) classification,
with binary, macro or micro averaging. Ill-defined ratios (zero denominator) are 0.0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): ground-truth labels.
    average (`str`, defaults to `"binary"`): one of `"binary"`, `"macro"`, `"micro"`.
    pos_label (`int`, defaults to 1): the positive class when `average="binary"`.
    labels (`list` of `int`, optional): labels averaged over for `"macro"`/`"micro"`
        (defaults to the sorted union of the labels in predictions and references).
Returns:
    `dict` with float `accuracy`, `precision`, `recall` and `f1`.
Examples:
    >>> metric = ClassificationMetrics()
    >>> metric.compute(predictions=[1, 0, 1, 1], references=[1, 0, 0, 1])["precision"]
    0.6666666666666666
"""

_CITATION = """
@article{sokolova2009systematic,
  title={A systematic analysis of performance measures for classification tasks},
  author={Sokolova, Marina and Lapalme, Guy},
  journal={Information Processing \\& Management},
  volume={45},
  number={4},
  pages={427--437},
  year={2009}
}
"""

AVERAGES: tuple[str, ...] = ("binary", "macro", "micro")


def _as_labels(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must contain integer labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def classification_metrics(
    predictions: Any,
    references: Any,
    average: str = "binary",
    pos_label: int = 1,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (see the module docstring for the definitions).

    Args:
        predictions: ``(n_samples,)`` predicted integer labels.
        references: ``(n_samples,)`` reference integer labels.
        average: ``"binary"`` (scores of ``pos_label`` only), ``"macro"`` or ``"micro"``.
        pos_label: Positive class for ``average="binary"``.
        labels: Labels to average over for ``"macro"``/``"micro"``; defaults to the sorted
            union of the observed labels. Ignored for ``"binary"``.

    Returns:
        ``{"accuracy", "precision", "recall", "f1"}`` floats.

    Raises:
        ValueError: On mismatched or empty inputs, an unknown ``average``, or ``"binary"``
            averaging of data that has more than two classes or lacks ``pos_label``.
    """
    y_pred = _as_labels(predictions, "predictions")
    y_true = _as_labels(references, "references")
    if y_pred.shape != y_true.shape:
        raise ValueError(
            f"predictions and references must have the same length, got {y_pred.shape[0]} "
            f"and {y_true.shape[0]}"
        )
    if y_pred.size == 0:
        raise ValueError("cannot compute classification metrics over zero samples")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")

    present = np.union1d(y_true, y_pred)
    if average == "binary":
        if present.size > 2:
            raise ValueError(
                f"average='binary' needs at most two classes, got {present.tolist()}; "
                f"use average='macro' or 'micro'"
            )
        if present.size == 2 and pos_label not in present:
            raise ValueError(f"pos_label={pos_label} is not one of the labels {present.tolist()}")
        label_set = np.asarray([pos_label], dtype=np.int64)
    elif labels is None:
        label_set = present
    else:
        label_set = np.asarray(labels, dtype=np.int64).reshape(-1)
        if label_set.size == 0:
            raise ValueError("labels must not be empty")

    precision, recall, f1, _ = sklearn.metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=np.unique(label_set),
        average="macro" if average == "binary" else average, zero_division=0.0)
    return {
        "accuracy": float(sklearn.metrics.accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ClassificationMetrics(evaluate.Metric):
    """Accuracy, precision, recall and F1 as an ``evaluate.Metric`` (scikit-learn)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(
        self,
        predictions: Sequence[int],
        references: Sequence[int],
        average: str = "binary",
        pos_label: int = 1,
        labels: Sequence[int] | None = None,
    ) -> dict[str, float]:
        """See :func:`classification_metrics`.

        Args:
            predictions: ``n_samples`` predicted labels.
            references: ``n_samples`` reference labels.
            average: ``"binary"``, ``"macro"`` or ``"micro"``.
            pos_label: Positive class for ``"binary"``.
            labels: Labels averaged over for ``"macro"``/``"micro"``.

        Returns:
            ``{"accuracy", "precision", "recall", "f1"}`` floats.
        """
        return classification_metrics(predictions, references, average, pos_label, labels)
