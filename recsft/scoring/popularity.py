"""The most-popular baseline as a scorer."""

from __future__ import annotations

import numpy as np
import torch

from recsft.scoring.vectors import Scorer


def popularity_scorer(counts: np.ndarray) -> Scorer:
    """Most-popular baseline: the same score vector for every user.

    Ties are broken by item index (a tiny decreasing offset), so results are deterministic.

    Args:
        counts: ``(num_items,)`` training interaction counts.
    """
    n = len(counts)
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(-counts, kind="stable")] = np.arange(n)
    scores = torch.from_numpy((n - ranks).astype(np.float32))

    def score(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return scores.to(batch["seen"].device).expand(batch["input_ids"].shape[0], -1).clone()

    return score
