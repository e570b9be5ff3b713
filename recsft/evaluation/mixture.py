"""Choosing the mixture of a model with item transitions on the validation split.

The mixture itself is :class:`~recsft.scoring.mixture.MixtureScorer` (see
:mod:`recsft.scoring.mixture` for the formula); :func:`choose_mixture` evaluates a grid of its
weight ``w``, smoothing ``a`` and temperature ``t`` in one pass over the validation users and
keeps the best. The test split never chooses.

Example:
    >>> base = BatchSoftmax(model_scorer(model))
    >>> best, table = choose_mixture(
    ...     valid.evaluate_many, lambda w, a, t: MixtureScorer(base, chain, 4, w, a, t))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsft.scoring.mixture import MixtureScorer

__all__ = ["DEFAULT_WEIGHTS", "DEFAULT_SMOOTHINGS", "DEFAULT_TEMPERATURES",
           "DEFAULT_CONTENT_WEIGHTS", "choose_mixture", "choose_content_weight"]

#: Mixture weights tried on validation by default.
DEFAULT_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)
#: Smoothings (pseudo-counts of the model) tried on validation by default.
DEFAULT_SMOOTHINGS = (0.0, 10.0, 30.0, 50.0, 100.0)
#: Temperatures of the model's softmax tried on validation by default.
DEFAULT_TEMPERATURES = (1.0, 1.5)
#: Weights of the text-similarity term tried on validation by default (items with text).
DEFAULT_CONTENT_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0)


def choose_mixture(evaluate_many: Callable[[list[MixtureScorer]], list[dict[str, float]]],
                   make: Callable[[float, float, float], MixtureScorer],
                   weights: Sequence[float] = DEFAULT_WEIGHTS,
                   smoothings: Sequence[float] = DEFAULT_SMOOTHINGS,
                   temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
                   metric: str = "ndcg@10") -> tuple[dict[str, float], list[dict[str, float]]]:
    """The weight, smoothing and temperature with the best validation ``metric`` (among ties
    the smallest weight, then smoothing, then the temperature closest to 1). ``w = 0`` is
    tried once (the model alone, whatever the rest).

    Args:
        evaluate_many: Validation evaluation of several scorers in one pass (e.g.
            ``valid_evaluator.evaluate_many``).
        make: Builds the scorer of ``(weight, smoothing, temperature)``.
        weights: Candidate weights.
        smoothings: Candidate smoothings.
        temperatures: Candidate temperatures.
        metric: Key of the evaluation results to maximise.

    Returns:
        ``({"weight", "smoothing", "temperature", metric} of the best,
        [the same per candidate])``.
    """
    if not weights or not smoothings or not temperatures:
        raise ValueError("no mixture weights, smoothings or temperatures to choose from")
    alone = (0.0, float(min(smoothings)), float(min(temperatures, key=lambda t: abs(t - 1))))
    candidates = sorted({(float(w), float(a), float(t)) if w else alone
                         for w, a, t in product(weights, smoothings, temperatures)})
    results = evaluate_many([make(*candidate) for candidate in candidates])
    table = [{"weight": w, "smoothing": a, "temperature": t, metric: float(result[metric])}
             for (w, a, t), result in zip(candidates, results)]
    best = max(table, key=lambda row: (row[metric], -row["weight"], -row["smoothing"],
                                       -abs(row["temperature"] - 1)))
    return best, table


def choose_content_weight(evaluate_many: Callable[[list[MixtureScorer]], list[dict[str, float]]],
                          make: Callable[[float], MixtureScorer],
                          weights: Sequence[float] = DEFAULT_CONTENT_WEIGHTS,
                          metric: str = "ndcg@10"
                          ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The weight of the text-similarity term with the best validation ``metric`` (among ties
    the smallest), the mixture's other settings fixed. ``0`` (no such term) is always tried.

    Args:
        evaluate_many: Validation evaluation of several scorers in one pass.
        make: Builds the scorer of a content weight.
        weights: Candidate weights (non-negative).
        metric: Key of the evaluation results to maximise.

    Returns:
        ``({"content_weight", metric} of the best, [the same per candidate])``.
    """
    candidates = sorted({0.0, *(float(w) for w in weights)})
    if candidates[0] < 0:
        raise ValueError(f"content weights must be non-negative, got {candidates[0]}")
    results = evaluate_many([make(weight) for weight in candidates])
    table = [{"content_weight": weight, metric: float(result[metric])}
             for weight, result in zip(candidates, results)]
    best = max(table, key=lambda row: (row[metric], -row["content_weight"]))
    return best, table
