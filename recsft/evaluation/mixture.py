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

import numpy as np

if TYPE_CHECKING:
    from recsft.scoring.mixture import MixtureScorer

__all__ = ["DEFAULT_WEIGHTS", "DEFAULT_SMOOTHINGS", "DEFAULT_TEMPERATURES",
           "DEFAULT_CONTENT_WEIGHTS", "DEFAULT_NEW_ITEM_PRIORS", "choose_mixture",
           "choose_content_weight", "choose_new_item_prior"]

#: Mixture weights tried on validation by default.
DEFAULT_WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)
#: Smoothings (pseudo-counts of the model) tried on validation by default.
DEFAULT_SMOOTHINGS = (0.0, 10.0, 30.0, 50.0, 100.0)
#: Temperatures of the model's softmax tried on validation by default.
DEFAULT_TEMPERATURES = (1.0, 1.5)
#: Weights of the text-similarity term tried on validation by default (items with text).
DEFAULT_CONTENT_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0)
#: New-item priors (log-score offsets of the items without training interactions) tried on
#: validation by default (catalogues with such items).
DEFAULT_NEW_ITEM_PRIORS = (0.0, 0.25, 0.5, 0.75, 1.0)


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
    return _choose_one("content_weight", evaluate_many, make, weights, metric)


def choose_new_item_prior(evaluate_many: Callable[[list[MixtureScorer]], list[dict[str, float]]],
                          make: Callable[[float], MixtureScorer],
                          priors: Sequence[float] = DEFAULT_NEW_ITEM_PRIORS,
                          metric: str = "ndcg@10"
                          ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The new-item prior with the best validation ``metric`` (among ties the smallest), the
    mixture's other settings fixed. ``0`` (no prior) is always tried.

    Args:
        evaluate_many: Validation evaluation of several scorers in one pass.
        make: Builds the scorer of a prior.
        priors: Candidate priors (non-negative: new items are promoted, never demoted).
        metric: Key of the evaluation results to maximise.

    Returns:
        ``({"new_item_prior", metric} of the best, [the same per candidate])``.
    """
    return _choose_one("new_item_prior", evaluate_many, make, priors, metric)


def _choose_one(name: str, evaluate_many: Callable[[list[MixtureScorer]], list[dict[str, float]]],
                make: Callable[[float], MixtureScorer], values: Sequence[float], metric: str
                ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """One non-negative setting of the mixture chosen on validation; ``0`` always tried, the
    smallest among ties."""
    candidates = sorted({0.0, *(float(v) for v in values)})
    if candidates[0] < 0 or not all(np.isfinite(candidates)):
        raise ValueError(f"{name.replace('_', ' ')}s must be finite and non-negative, got "
                         f"{candidates[0] if candidates[0] < 0 else candidates}")
    results = evaluate_many([make(value) for value in candidates])
    table = [{name: value, metric: float(result[metric])}
             for value, result in zip(candidates, results)]
    best = max(table, key=lambda row: (row[metric], -row[name]))
    return best, table
