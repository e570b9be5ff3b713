"""Beyond-accuracy measures of top-K recommendation lists.

Given every evaluated user's top-K list (item indices), the training interactions per item and,
optionally, each item's categories:

* ``coverage@K`` — share of the catalogue recommended to at least one user;
* ``gini@K`` — Gini coefficient of how often each catalogue item is recommended (0: every item
  equally often; near 1: a few items take all exposure);
* ``avg_popularity@K`` — mean training interactions of the recommended items (per user, then
  averaged: ARP, Abdollahpouri et al. 2019);
* ``novelty@K`` — mean self-information ``-log2 p(i)`` of the recommended items with
  ``p(i) = (count_i + 1) / (total + num_items)`` (add-one smoothed interaction share; Zhou et al.
  2010);
* ``ild@K`` — intra-list diversity: mean over pairs of recommended items of the Jaccard distance
  between their category sets (pairs where an item has no category are left out; users without
  such a pair too). Only when categories are given.

Example:
    >>> top = np.array([[0, 1], [0, 2]])
    >>> beyond_accuracy(top, k=2, item_counts=np.array([5.0, 1.0, 0.0, 0.0]))["coverage@2"]
    0.75
"""

from __future__ import annotations

from typing import Any

import numpy as np


def gini(values: Any) -> float:
    """Gini coefficient of non-negative values (0 when all equal or all zero)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    total = x.sum()
    if x.size == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, x.size + 1)
    return float(((2 * ranks - x.size - 1) * x).sum() / (x.size * total))


def intra_list_distance(top: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Per-user mean Jaccard distance between the category sets of recommended item pairs.

    Args:
        top: ``(n_users, K)`` item indices.
        categories: ``(num_items, C)`` category ids per item, 0 padding (no category: all 0).

    Returns:
        ``(n_users,)`` values; NaN for users with no pair of categorised items.
    """
    cats = categories[top]  # (n, K, C)
    has = (cats > 0).any(axis=2)  # (n, K)
    total = np.zeros(top.shape[0])
    pairs = np.zeros(top.shape[0])
    for a in range(top.shape[1]):
        for b in range(a + 1, top.shape[1]):
            x, y = cats[:, a, :], cats[:, b, :]
            same = (x[:, :, None] == y[:, None, :]) & (x[:, :, None] > 0)  # (n, C, C)
            inter = same.any(axis=2).sum(axis=1)
            union = (x > 0).sum(axis=1) + (y > 0).sum(axis=1) - inter
            valid = has[:, a] & has[:, b]
            distance = 1.0 - inter / np.maximum(union, 1)
            total += np.where(valid, distance, 0.0)
            pairs += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, total / pairs, np.nan)


def beyond_accuracy(
    top: np.ndarray,
    k: int,
    item_counts: np.ndarray,
    categories: np.ndarray | None = None,
) -> dict[str, float]:
    """Coverage, Gini of exposure, popularity, novelty (and ILD) of the top-``k`` lists.

    Args:
        top: ``(n_users, >= k)`` recommended item indices, best first.
        k: Cut-off.
        item_counts: ``(num_items,)`` training interactions per item index.
        categories: ``(num_items, C)`` category ids per item index (0 padding), for ILD.

    Returns:
        ``{"coverage@k", "gini@k", "avg_popularity@k", "novelty@k"[, "ild@k"]}``.
    """
    counts = np.asarray(item_counts, dtype=np.float64)
    num_items = counts.size
    lists = np.asarray(top)[:, :k]
    exposure = np.bincount(lists.ravel(), minlength=num_items)
    probability = (counts + 1.0) / (counts.sum() + num_items)
    out = {
        f"coverage@{k}": float(np.count_nonzero(exposure) / num_items),
        f"gini@{k}": gini(exposure),
        f"avg_popularity@{k}": float(counts[lists].mean(axis=1).mean()),
        f"novelty@{k}": float((-np.log2(probability[lists])).mean(axis=1).mean()),
    }
    if categories is not None:
        distances = intra_list_distance(lists, np.asarray(categories))
        if np.isfinite(distances).any():
            out[f"ild@{k}"] = float(np.nanmean(distances))
    return out


def popularity_exposure(top: np.ndarray, k: int, item_counts: np.ndarray,
                        targets: np.ndarray | None = None, bins: int = 10) -> dict[str, Any]:
    """Exposure by item-popularity bin: how much of the top-``k`` goes to popular items.

    Items are sorted by training interactions (most popular first) and cut into ``bins`` groups
    of equal size. For each group: its share of the training interactions, of the recommended
    slots (``top[:, :k]``) and, given ``targets``, of the held-out target items. A recommender
    without popularity bias recommends each group about as often as users actually pick it.

    Args:
        top: ``(users, >= k)`` recommended item indices, best first (``-1`` pads).
        k: List length.
        item_counts: ``(num_items,)`` training interactions per item.
        targets: ``(users,)`` held-out item indices (``-1``: unknown to the model).
        bins: Number of popularity groups.

    Returns:
        ``{"k", "bins", "item_share", "training_share", "recommended_share", "target_share"}``,
        each share a list over the groups, most popular first.
    """
    counts = np.asarray(item_counts, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")
    group = np.empty(counts.size, dtype=np.int64)
    group[order] = np.minimum(np.arange(counts.size) * bins // max(counts.size, 1), bins - 1)

    def share(indices: np.ndarray, weights: np.ndarray | None = None) -> list[float]:
        valid = indices >= 0
        totals = np.bincount(group[indices[valid]], minlength=bins,
                             weights=None if weights is None else weights[valid])
        return (totals / max(totals.sum(), 1e-12)).tolist()

    everything = np.arange(counts.size)
    out = {"k": k, "bins": bins, "item_share": share(everything),
           "training_share": share(everything, counts),
           "recommended_share": share(np.asarray(top)[:, :k].ravel())}
    if targets is not None:
        out["target_share"] = share(np.asarray(targets))
    return out
