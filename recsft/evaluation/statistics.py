"""Statistics over per-user metric values: confidence intervals and paired tests.

Averaged ranking metrics are means over users, so their uncertainty comes from which users were
evaluated. :func:`bootstrap_interval` resamples users; :func:`paired_comparison` compares two
models *on the same users* (the per-user differences) with a paired t-test, the Wilcoxon
signed-rank test and a sign-flip permutation test, and reports the effect size; :func:`holm`
adjusts p-values when several comparisons are made.

Example:
    >>> a, b = np.array([0.0, 1.0, 0.5, 0.0]), np.array([1.0, 1.0, 0.5, 1.0])
    >>> round(bootstrap_interval(b)["mean"], 3)
    0.875
    >>> holm({"ndcg@10": 0.01, "recall@10": 0.04})
    {'ndcg@10': 0.02, 'recall@10': 0.04}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _values(values: Any) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2:
        raise ValueError(f"an interval needs at least two values, got {values.size}")
    if not np.isfinite(values).all():
        raise ValueError("per-user values must be finite")
    return values


def normal_interval(values: Any, z: float = 1.96) -> dict[str, float]:
    """Mean of per-user values with a normal-approximation 95% interval.

    Args:
        values: ``(n_users,)`` per-user metric values, or per-user paired differences.
        z: Normal quantile (1.96 for 95%).

    Returns:
        ``{"mean", "ci95_low", "ci95_high"}``.

    Raises:
        ValueError: fewer than two values, or a value that is not finite.
    """
    values = _values(values)
    mean = float(values.mean())
    half = float(z * values.std(ddof=1) / np.sqrt(values.size))
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half}


def seed_interval(values: Any, confidence: float = 0.95) -> dict[str, float]:
    """Mean over training seeds with a Student-t interval: the spread training randomness gives.

    Args:
        values: ``(n_seeds,)`` one metric value per seed (at least two).
        confidence: Interval coverage.

    Returns:
        ``{"mean", "std", "ci95_low", "ci95_high", "n"}`` (``std`` with ``ddof=1``).
    """
    from scipy import stats

    values = _values(values)
    mean, std = float(values.mean()), float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, values.size - 1) * std / np.sqrt(values.size))
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half,
            "n": int(values.size)}


def bootstrap_means(values: Any, n_resamples: int = 1000, seed: int = 0,
                    chunk: int = 50) -> np.ndarray:
    """Means of ``n_resamples`` resamples of the users with replacement: ``(n_resamples,)``.

    Resamples are drawn ``chunk`` at a time, so memory stays ``chunk × n_users`` indices.
    """
    values = _values(values)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        picks = rng.integers(0, values.size, size=(stop - start, values.size))
        means[start:stop] = values[picks].mean(axis=1)
    return means


def bootstrap_interval(values: Any, n_resamples: int = 1000, confidence: float = 0.95,
                       seed: int = 0) -> dict[str, float]:
    """Mean of per-user values with a percentile bootstrap interval over users.

    Args:
        values: ``(n_users,)`` per-user metric values (or paired differences).
        n_resamples: Bootstrap resamples.
        confidence: Interval coverage.
        seed: Seed of the resampling (the interval is reproducible).

    Returns:
        ``{"mean", "ci95_low", "ci95_high"}`` (the key names say 95 whatever ``confidence``
        is, so that records stay comparable; the default is 0.95).
    """
    values = _values(values)
    means = bootstrap_means(values, n_resamples, seed)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {"mean": float(values.mean()), "ci95_low": float(low), "ci95_high": float(high)}


def permutation_p_value(differences: Any, n_permutations: int = 10_000, seed: int = 0,
                        chunk: int = 200) -> float:
    """Two-sided sign-flip permutation test of a zero mean paired difference.

    Under the null hypothesis each user's difference is as likely to have either sign. The
    p-value is ``(1 + #{|mean of flipped| >= |observed mean|}) / (1 + n_permutations)``.
    """
    differences = _values(differences)
    observed = abs(differences.mean())
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        signs = rng.integers(0, 2, size=(size, differences.size), dtype=np.int8) * 2 - 1
        flipped = np.abs(signs @ differences) / differences.size
        extreme += int((flipped >= observed - 1e-12).sum())
    return (1 + extreme) / (1 + n_permutations)


def paired_comparison(a: Any, b: Any, n_resamples: int = 1000, n_permutations: int = 10_000,
                      seed: int = 0) -> dict[str, Any]:
    """Compare model B with model A on the same users.

    Args:
        a: ``(n_users,)`` per-user values of model A.
        b: ``(n_users,)`` per-user values of model B, same users in the same order.
        n_resamples: Bootstrap resamples for the interval of the mean difference.
        n_permutations: Sign flips of the permutation test.
        seed: Seed of the bootstrap and the permutations.

    Returns:
        ``mean_a``, ``mean_b``, ``difference`` (B - A with its bootstrap ``ci95_low`` /
        ``ci95_high``), ``relative_difference`` (B / A - 1, ``None`` when A is 0),
        ``effect_size`` (Cohen's d of the paired differences: mean / std), and the two-sided
        p-values ``t_test_p`` (paired t-test), ``wilcoxon_p`` (signed-rank test on the non-zero
        differences; 1.0 when all differences are zero) and ``permutation_p``.

    Raises:
        ValueError: the two arrays differ in length.
    """
    from scipy import stats

    a, b = _values(a), _values(b)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same users: {a.size} vs {b.size} values")
    differences = b - a
    spread = differences.std(ddof=1)
    identical = not np.any(differences)
    if identical:
        t_test_p = 1.0
    elif spread == 0:  # every user moved by the same amount
        t_test_p = 0.0
    else:
        t_test_p = float(stats.ttest_rel(b, a).pvalue)
    result: dict[str, Any] = {
        "n_users": int(a.size),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "difference": bootstrap_interval(differences, n_resamples, seed=seed),
        "relative_difference": float(b.mean() / a.mean() - 1.0) if a.mean() else None,
        "effect_size": float(differences.mean() / spread) if spread > 0 else 0.0,
        "t_test_p": t_test_p,
        "wilcoxon_p": 1.0 if identical else float(stats.wilcoxon(differences).pvalue),
        "permutation_p": permutation_p_value(differences, n_permutations, seed),
    }
    return result


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (family-wise error), in the input's key order.

    The ``i``-th smallest of ``m`` p-values is multiplied by ``m - i`` (``i`` from 0), made
    non-decreasing along that order, and capped at 1.
    """
    order = sorted(p_values, key=lambda key: p_values[key])
    adjusted, running = {}, 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[key]))
        adjusted[key] = running
    return {key: adjusted[key] for key in p_values}
