"""Non-neural baselines for the downstream tasks, on the same examples and splits.

* :func:`bag_features`: one sparse row per user: log(1 + count) of every training item and of
  every event type in the history, plus log(1 + history length). Order and time are ignored.
* :func:`logistic_regression`: scikit-learn's L2 logistic regression on those features, its
  ``C`` chosen on the validation set by log loss.
* ``length_only=True``: the same regression on log(1 + history length) alone, a diagnostic of
  how much of a label is activity level rather than which items.
* :func:`most_frequent`: the training class frequencies as every user's probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsft.tasks.labels import TaskExamples

__all__ = ["bag_features", "BagVocabulary", "logistic_regression", "most_frequent"]


class BagVocabulary:
    """Columns of the bag-of-items features: the items and event types seen in training.

    Args:
        train: The training examples (items and types of other splits that are not here are
            ignored, as a model's unknown items are).
    """

    def __init__(self, train: TaskExamples) -> None:
        items = sorted({item for row in train.items for item in row})
        types = sorted({t for row in train.event_types for t in row})
        self.columns = {name: n for n, name in enumerate(items)}
        self.type_columns = {name: len(items) + n for n, name in enumerate(types)}
        self.width = len(items) + len(types) + 1


def bag_features(examples: TaskExamples, vocabulary: BagVocabulary) -> Any:
    """Sparse ``(n, width)`` CSR features (see the module docstring)."""
    from scipy.sparse import csr_matrix

    rows, cols, values = [], [], []
    for r, (items, types) in enumerate(zip(examples.items, examples.event_types)):
        counts: dict[int, int] = {}
        for item in items:
            column = vocabulary.columns.get(item)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        for kind in types:
            column = vocabulary.type_columns.get(kind)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        counts[vocabulary.width - 1] = len(items)
        rows += [r] * len(counts)
        cols += list(counts)
        values += [np.log1p(v) for v in counts.values()]
    return csr_matrix((values, (rows, cols)), shape=(len(examples), vocabulary.width),
                      dtype=np.float64)


def _length_features(examples: TaskExamples) -> np.ndarray:
    return np.log1p(np.array([[len(items)] for items in examples.items], dtype=np.float64))


def logistic_regression(train: TaskExamples, valid: TaskExamples, test: TaskExamples,
                        seed: int = 0, grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0),
                        length_only: bool = False) -> dict[str, Any]:
    """Fit on ``train``, choose ``C`` on ``valid``; class probabilities of every split.

    Args:
        train: Training examples.
        valid: Validation examples (choose ``C``).
        test: Test examples.
        seed: Solver seed.
        grid: Candidate inverse regularisation strengths.
        length_only: Use log(1 + history length) as the only feature.

    Returns:
        ``{"valid": (n, classes), "test": (n, classes), "C": chosen}``.
    """
    from sklearn.linear_model import LogisticRegression

    if length_only:
        x_train, x_valid, x_test = (_length_features(split) for split in (train, valid, test))
    else:
        vocabulary = BagVocabulary(train)
        x_train, x_valid, x_test = (bag_features(split, vocabulary)
                                    for split in (train, valid, test))
    n_classes = len(train.classes)
    best: tuple[float, Any] | None = None
    for c in grid:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x_train, train.labels)
        loss = _log_loss(_full(model, model.predict_proba(x_valid), n_classes), valid.labels)
        if best is None or loss < best[0]:
            best = (loss, model)
    model = best[1]
    return {"valid": _full(model, model.predict_proba(x_valid), n_classes),
            "test": _full(model, model.predict_proba(x_test), n_classes), "C": model.C}


def _full(model: Any, probabilities: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over all classes (a class absent from training gets 0)."""
    out = np.zeros((probabilities.shape[0], n_classes))
    out[:, model.classes_] = probabilities
    return out


def _log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(labels.size), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def most_frequent(train: TaskExamples, n: int) -> np.ndarray:
    """The training class frequencies, ``(n, classes)`` (add-one smoothed)."""
    counts = np.bincount(train.labels, minlength=len(train.classes)) + 1.0
    return np.tile(counts / counts.sum(), (n, 1))
