"""A model's next-item distribution interpolated with item transitions.

Each history item ``h_k`` read by :class:`~recsft.modeling.transitions.ItemTransitions`
speaks for a share ``r_k`` of the next item (recency-weighted, newest first). Of that share,
``w * n_k / (n_k + a)`` goes to its successors ``T[h_k]`` and the rest to the model, where
``n_k`` is how many successors of ``h_k`` training saw and ``a`` (``smoothing``) is the
model's weight in pseudo-counts (Dirichlet smoothing of the counts toward the model)::

    P(j | h) = (1 - w s_h) softmax(model)_j + w sum_k r_k n_k / (n_k + a) T[h_k, j]

with ``s_h = sum_k r_k n_k / (n_k + a)``; items are ranked by ``log P``. ``a = 0`` trusts every
row with successors fully (a fixed interpolation, ``s_h = 1`` when every read item has some).
``w`` and ``a`` are chosen on the validation split (:func:`choose_mixture`), never on the test
split; with ``w = 0`` the ranking is the model's own.

Example:
    >>> scorer = MixtureScorer(model_scorer(model), chain, first_item_id=4, weight=0.8,
    ...                        smoothing=30)
    >>> evaluator.evaluate(scorer)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product

import numpy as np
import torch

from recsft.modeling.transitions import ItemTransitions

#: Mixture weights tried on validation by default.
DEFAULT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Smoothings (pseudo-counts of the model) tried on validation by default.
DEFAULT_SMOOTHINGS = (0.0, 10.0, 30.0, 100.0)

Scorer = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class BatchSoftmax:
    """The softmax of a scorer's logits, kept for the last batch seen: mixtures sharing it
    and scoring the same batch one after the other
    (:meth:`~recsft.evaluation.ranking.RankingEvaluator.evaluate_many`) compute it once.

    Args:
        base: A scorer of the model (batch → ``(B, num_items)`` logits).
    """

    def __init__(self, base: Scorer) -> None:
        self.base = base
        self._key: tuple[int, ...] | None = None
        self._probabilities: torch.Tensor | None = None

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, num_items)`` next-item probabilities of the model (not to be changed in
        place: the next caller gets the same tensor)."""
        key = tuple(batch["index"].tolist())
        if key != self._key:
            self._probabilities = torch.softmax(self.base(batch).float(), dim=1)
            self._key = key
        return self._probabilities


class MixtureScorer:
    """Scores a batch as the log of the mixture of the model and the item transitions.

    Args:
        base: A scorer of the model (batch → ``(B, num_items)`` logits), or a
            :class:`BatchSoftmax` of one shared between mixtures.
        chain: Item transitions over the same item indices.
        first_item_id: Token id of the first item (history ids below it are special tokens).
        weight: ``w``, the chain's largest share, in ``[0, 1]``.
        smoothing: ``a``, the model's pseudo-counts in each successor row (``>= 0``).
    """

    def __init__(self, base: Scorer | BatchSoftmax, chain: ItemTransitions, first_item_id: int,
                 weight: float, smoothing: float = 0.0) -> None:
        if not 0 <= weight <= 1:
            raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
        if smoothing < 0:
            raise ValueError(f"mixture smoothing must be non-negative, got {smoothing}")
        self.base = base if isinstance(base, BatchSoftmax) else None
        self.logits = base.base if isinstance(base, BatchSoftmax) else base
        self.chain = chain
        self.first_item_id = first_item_id
        self.weight = weight
        self.smoothing = smoothing

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.weight == 0:
            return self.logits(batch).float()
        model = (self.base(batch) if self.base is not None
                 else torch.softmax(self.logits(batch).float(), dim=1))
        histories = (batch["input_ids"] - self.first_item_id).cpu().tolist()
        reading = self.chain.reading(histories, self.smoothing)
        share = torch.from_numpy(np.asarray(reading.sum(axis=1), dtype=np.float32).ravel())
        mixed = model * (1 - self.weight * share.to(model.device))[:, None]
        successors = (reading @ self.chain.matrix).tocoo()
        rows = torch.from_numpy(successors.row.astype(np.int64)).to(model.device)
        cols = torch.from_numpy(successors.col.astype(np.int64)).to(model.device)
        values = torch.from_numpy(successors.data.astype(np.float32)).to(model.device)
        mixed.index_put_((rows, cols), self.weight * values, accumulate=True)
        # The smallest positive float keeps unreachable items ranked (below every reachable one)
        # instead of tied at -inf.
        return mixed.clamp_min_(torch.finfo(mixed.dtype).tiny).log_()


def choose_mixture(evaluate_many: Callable[[list[MixtureScorer]], list[dict[str, float]]],
                   make: Callable[[float, float], MixtureScorer],
                   weights: Sequence[float] = DEFAULT_WEIGHTS,
                   smoothings: Sequence[float] = DEFAULT_SMOOTHINGS,
                   metric: str = "ndcg@10") -> tuple[float, float, list[dict[str, float]]]:
    """The weight and smoothing with the best validation ``metric`` (among ties the smallest
    weight, then the smallest smoothing). ``w = 0`` is tried once (the model alone, whatever
    the smoothing).

    Args:
        evaluate_many: Validation evaluation of several scorers in one pass (e.g.
            ``valid_evaluator.evaluate_many``).
        make: Builds the scorer of ``(weight, smoothing)``.
        weights: Candidate weights.
        smoothings: Candidate smoothings.
        metric: Key of the evaluation results to maximise.

    Returns:
        ``(weight, smoothing, [{"weight", "smoothing", metric} per candidate])``.
    """
    if not weights or not smoothings:
        raise ValueError("no mixture weights or smoothings to choose from")
    candidates = sorted({(float(w), float(a) if w else float(min(smoothings)))
                         for w, a in product(weights, smoothings)})
    results = evaluate_many([make(w, a) for w, a in candidates])
    table = [{"weight": w, "smoothing": a, metric: float(result[metric])}
             for (w, a), result in zip(candidates, results)]
    best = max(table, key=lambda row: (row[metric], -row["weight"], -row["smoothing"]))
    return best["weight"], best["smoothing"], table

