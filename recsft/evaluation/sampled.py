"""Sampled-negative ranking metrics, for comparison with papers that report them only.

Each user's target is ranked among ``num_negatives`` items drawn without replacement from the
items outside the user's history and target: ``uniform``, or in proportion to their training
interactions (``popularity``). Sampled metrics are not estimates of the full-ranking ones and
can reorder models (Krichene & Rendle, KDD 2020); every key names the protocol:
``ndcg@10_sampled100`` (uniform) or ``ndcg@10_sampled100pop``. The users, their batches and
their histories are those of a :class:`~recsft.evaluation.ranking.RankingEvaluator`
(:meth:`~recsft.evaluation.ranking.RankingEvaluator.evaluate_sampled` calls
:func:`sampled_metrics`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.scoring.vectors import Scorer

__all__ = ["sampled_metrics", "draw_negatives"]


def sampled_metrics(evaluator: RankingEvaluator, scorer: Scorer, num_negatives: int = 100,
                    sampling: str = "uniform", seed: int = 0) -> dict[str, float]:
    """Sampled-negative metrics of a scorer on an evaluator's users.

    Args:
        evaluator: The users, targets and histories (and, for ``popularity``, its
            ``item_counts``).
        scorer: As for :meth:`~recsft.evaluation.ranking.RankingEvaluator.top_k`.
        num_negatives: Negatives per user.
        sampling: ``uniform`` or ``popularity``.
        seed: Seed of the draw (the same negatives for every model).

    Returns:
        Means over users, keys ``"<metric>@K_sampled<N>[pop]"``.

    Raises:
        ValueError: unknown ``sampling``, popularity sampling without item counts, or more
            negatives than a user has items to draw from.
    """
    from recsft.evaluation.metrics.ranking import (
        mean_metrics,
        ranking_metrics_per_user_from_ranks,
    )

    if sampling not in ("uniform", "popularity"):
        raise ValueError(f"sampling must be 'uniform' or 'popularity', got '{sampling}'")
    cdf = positive = None
    if sampling == "popularity":
        if evaluator.item_counts is None:
            raise ValueError("popularity sampling needs the training item counts")
        weights = np.asarray(evaluator.item_counts, dtype=np.float64)
        cdf, positive = np.cumsum(weights) / weights.sum(), weights > 0
    rng = np.random.default_rng(seed)
    ranks = np.full(len(evaluator), np.inf)
    with torch.no_grad():
        for batch in evaluator._batches(None, evaluator.batch_size):
            indices = batch["index"].tolist()
            scores = scorer(batch).float()
            targets = batch["targets"].to(scores.device)
            negatives = torch.from_numpy(np.stack([
                draw_negatives(evaluator, i, num_negatives, cdf, positive, rng)
                for i in indices
            ])).to(scores.device)
            target_scores = scores.gather(1, targets.clamp(min=0)[:, None])
            beaten = (scores.gather(1, negatives) > target_scores).sum(dim=1).cpu().numpy()
            known = targets.cpu().numpy() >= 0
            ranks[np.asarray(indices)[known]] = beaten[known]
    suffix = f"_sampled{num_negatives}" + ("pop" if sampling == "popularity" else "")
    means = mean_metrics(ranking_metrics_per_user_from_ranks(ranks, evaluator.ks))
    return {f"{key}{suffix}": value for key, value in means.items()}


def draw_negatives(evaluator: RankingEvaluator, user: int, n: int, cdf: np.ndarray | None,
                   positive: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct item indices outside user ``user``'s history and target, drawn
    uniformly (``cdf`` None) or from the cumulative distribution ``cdf`` ``(num_items,)``
    over the items marked in ``positive``.

    Raises:
        ValueError: the user has fewer than ``n`` items to draw from.
    """
    num_items = evaluator.num_items
    excluded = {int(i) for i in evaluator._seen[user]} | {int(evaluator._targets[user])}
    excluded.discard(-1)
    if cdf is None:
        pool = num_items - len(excluded)
    else:
        pool = int(positive.sum()) - sum(1 for e in excluded if positive[e])
    if pool < n:
        raise ValueError(f"user {evaluator.user_ids[user]} has {pool} items to draw {n} "
                         "negatives from")
    chosen: list[int] = []
    taken = set(excluded)
    while len(chosen) < n:
        size = 2 * (n - len(chosen)) + 8
        draw = (rng.integers(0, num_items, size=size) if cdf is None
                else np.minimum(np.searchsorted(cdf, rng.random(size), side="right"),
                                num_items - 1))
        for item in draw.tolist():
            if item not in taken:
                taken.add(item)
                chosen.append(item)
                if len(chosen) == n:
                    break
    return np.asarray(chosen, dtype=np.int64)
