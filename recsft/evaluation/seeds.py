"""One model trained with several seeds: its metrics with two kinds of 95% interval.

A single training run answers "how good is this run"; a method needs "how good is this config".
Two sources of uncertainty matter and are reported apart:

* **seeds** — training randomness: a Student-t interval over the per-seed means;
* **users** — which users happen to be evaluated: a bootstrap over users of each user's value
  averaged over the seeds (every seed is evaluated on the same users, in the same order).

:func:`published_comparison` sets the result next to published figures on the same dataset
version, and says whether the seed interval lies above, below or across each.

Example:
    >>> per_user = [{"ndcg@10": np.array([0.0, 1.0, 0.5])}, {"ndcg@10": np.array([0.0, 1.0, 0.3])}]
    >>> summary = aggregate_seeds(per_user, n_resamples=100)
    >>> round(summary["ndcg@10"]["mean"], 3), summary["ndcg@10"]["seeds"]["n"]
    (0.467, 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from recsft.evaluation.statistics import bootstrap_interval, seed_interval


def aggregate_seeds(per_user: Sequence[Mapping[str, Any]], n_resamples: int = 1000,
                    seed: int = 0) -> dict[str, dict[str, Any]]:
    """Metrics of several seeds of one config.

    Args:
        per_user: One mapping per seed, metric key -> ``(n_users,)`` per-user values; every
            seed must hold the same keys over the same users.
        n_resamples: Bootstrap resamples of the users.
        seed: Seed of the bootstrap.

    Returns:
        ``summary[key]`` = ``{"mean", "per_seed", "seeds", "users"}``: ``per_seed`` the seeds'
        means, ``seeds`` the t-interval over them (``None`` with one seed), ``users`` the
        bootstrap interval over users of the seed-averaged values.

    Raises:
        ValueError: no seeds, or seeds that differ in keys or in number of users.
    """
    if not per_user:
        raise ValueError("aggregate_seeds needs at least one seed's per-user values")
    keys = list(per_user[0])
    for index, values in enumerate(per_user[1:], start=1):
        if list(values) != keys:
            raise ValueError(f"seed {index} has metrics {sorted(values)}, seed 0 {sorted(keys)}")
    summary: dict[str, dict[str, Any]] = {}
    for key in keys:
        stacked = np.stack([np.asarray(values[key], dtype=np.float64) for values in per_user])
        if stacked.ndim != 2:
            raise ValueError(f"{key}: per-user values must be one-dimensional per seed")
        per_seed = stacked.mean(axis=1)
        summary[key] = {
            "mean": float(per_seed.mean()),
            "per_seed": [float(value) for value in per_seed],
            "seeds": seed_interval(per_seed) if per_seed.size > 1 else None,
            "users": {**bootstrap_interval(stacked.mean(axis=0), n_resamples, seed=seed),
                      "n_resamples": n_resamples},
        }
    return summary


def published_comparison(summary: Mapping[str, Mapping[str, Any]],
                         published: Sequence[Any]) -> list[dict[str, Any]]:
    """Each published figure beside ours, with where our interval lies.

    Args:
        summary: :func:`aggregate_seeds` output.
        published: :class:`~recsft.evaluation.published.PublishedResult` rows of the same
            dataset version.

    Returns:
        One row per published result and metric: ``{"model", "source", "metric",
        "published", "ours", "ratio", "verdict"}``, where ``verdict`` is ``"above"`` /
        ``"below"`` when the whole interval (over seeds, or over users with one seed) is on
        that side of the published figure, else ``"within"``.
    """
    rows = []
    for result in published:
        for metric, value in result.metrics.items():
            if metric not in summary:
                continue
            ours = summary[metric]
            interval = ours["seeds"] or ours["users"]
            verdict = ("above" if interval["ci95_low"] > value else
                       "below" if interval["ci95_high"] < value else "within")
            rows.append({"model": result.model, "source": result.source, "metric": metric,
                         "published": value, "ours": ours["mean"],
                         "ratio": ours["mean"] / value if value else None,
                         "interval": "seeds" if ours["seeds"] else "users",
                         "verdict": verdict})
    return rows
