"""Metrics broken down by user and target segments.

An average over all users hides where a model wins: short vs long histories, popular vs niche
targets, purchases vs views, items never seen in training. Each function below labels every
evaluated user; :func:`segment_metrics` averages per-user metrics within each label, with a
bootstrap interval.

Segments:

* **history length**: ``1``, ``2-4``, ``5-9``, ``10-19``, ``20-49``, ``50+`` events before the
  target (the whole history, before truncation to the model's input length);
* **target popularity** by the target's training interactions: ``cold`` (none), ``head`` (the
  most popular items that together hold the first 20% of training interactions), ``tail`` (the
  least popular items that together hold the last 20%), ``torso`` (the rest);
* **target event type** (view / cart / buy / ...), when the data has event types;
* **cold-start protocol** (``data.cold_items``): ``warm_targets`` / ``cold_targets``, whether the
  target is one of the items held out from training.

Example:
    >>> history_length_segments(np.array([1, 3, 12, 80]))
    array(['1', '2-4', '10-19', '50+'], dtype='<U5')
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

HISTORY_EDGES = (1, 2, 5, 10, 20, 50)
HISTORY_LABELS = (
    *(str(low) if high == low + 1 else f"{low}-{high - 1}"
      for low, high in zip(HISTORY_EDGES, HISTORY_EDGES[1:])),
    f"{HISTORY_EDGES[-1]}+",
)
POPULARITY_ORDER = ("head", "torso", "tail", "cold")
COLD_START_ORDER = ("warm_targets", "cold_targets")


def history_length_segments(lengths: Any) -> np.ndarray:
    """Label ``(n_users,)`` history lengths (at least 1) with their bucket."""
    index = np.searchsorted(np.asarray(HISTORY_EDGES), np.asarray(lengths), side="right") - 1
    return np.asarray(HISTORY_LABELS)[np.clip(index, 0, len(HISTORY_LABELS) - 1)]


def cold_start_labels(targets: Sequence[str], cold: Collection[str]) -> np.ndarray:
    """``warm_targets`` / ``cold_targets`` for each of ``(n_users,)`` target item ids, by
    whether the target is one of the ``cold`` items (held out from training)."""
    held = set(cold)
    return np.asarray([COLD_START_ORDER[target in held] for target in targets], dtype=str)


def popularity_groups(counts: Any, share: float = 0.2) -> np.ndarray:
    """``head`` / ``torso`` / ``tail`` / ``cold`` for every item from its training counts.

    Args:
        counts: ``(num_items,)`` training interactions per item.
        share: Interaction share of the head (most popular first) and of the tail (least
            popular first).

    Returns:
        ``(num_items,)`` labels. Ties are broken by item index, so the groups are deterministic.
    """
    counts = np.asarray(counts, dtype=np.float64)
    labels = np.full(counts.shape, "cold", dtype=object)
    total = counts.sum()
    if total <= 0:
        return labels.astype(str)
    order = np.lexsort((np.arange(counts.size), -counts))  # most popular first
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]]) / total
    after = 1.0 - (before + counts[order] / total)
    group = np.where(before < share, "head", np.where(after < share, "tail", "torso"))
    labels[order] = group
    labels[counts == 0] = "cold"
    return labels.astype(str)


def segment_metrics(
    per_user: Mapping[str, np.ndarray],
    labels: Sequence[str] | np.ndarray,
    metrics: Sequence[str] = ("ndcg@10", "recall@10"),
    n_resamples: int = 1000,
    seed: int = 0,
    order: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Mean (and 95% bootstrap interval) of per-user metrics within each segment.

    Args:
        per_user: ``{"ndcg@10": (n_users,), ...}`` (e.g. ``RankingEvaluator.per_user``).
        labels: ``(n_users,)`` segment of each user.
        metrics: Metric keys to report.
        n_resamples: Bootstrap resamples (segments of one user get no interval).
        seed: Seed of the bootstrap.
        order: Segment order of the result (default: sorted); absent segments are skipped.

    Returns:
        ``{segment: {"users": n, "share": n / n_users, metric: {"mean", "ci95_low",
        "ci95_high"}}}``.
    """
    from recsft.evaluation.statistics import bootstrap_interval

    labels = np.asarray(labels).astype(str)
    present = list(dict.fromkeys(order or [])) + sorted(set(labels) - set(order or []))
    out: dict[str, dict[str, Any]] = {}
    for segment in present:
        chosen = labels == segment
        n = int(chosen.sum())
        if not n:
            continue
        row: dict[str, Any] = {"users": n, "share": n / labels.size}
        for key in metrics:
            values = per_user[key][chosen]
            mean = float(values.mean())
            row[key] = (bootstrap_interval(values, n_resamples, seed=seed) if n > 1
                        else {"mean": mean, "ci95_low": mean, "ci95_high": mean})
        out[segment] = row
    return out
