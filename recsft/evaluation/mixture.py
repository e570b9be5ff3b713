"""A model's next-item distribution interpolated with item transitions.

``score(j) = log((1 - w) softmax(model)_j + w P_chain(j | history))``: the interpolation of two
next-item distributions (the model's and :class:`~recsft.modeling.transitions.ItemTransitions`'),
ranked by its log. ``w`` is a hyperparameter chosen on the validation split
(:func:`choose_mixture_weight`), never on the test split; with ``w = 0`` the ranking is the
model's own.

Example:
    >>> scorer = MixtureScorer(model_scorer(model), chain, first_item_id=4, weight=0.4)
    >>> evaluator.evaluate(scorer)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from recsft.modeling.transitions import ItemTransitions

#: Mixture weights tried on validation by default.
DEFAULT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class MixtureScorer:
    """Scores a batch as the log of the interpolated next-item distribution.

    Args:
        base: A scorer of the model (batch → ``(B, num_items)`` logits).
        chain: Item transitions over the same item indices.
        first_item_id: Token id of the first item (history ids below it are special tokens).
        weight: Share ``w`` of the chain, in ``[0, 1]``.
    """

    def __init__(self, base: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                 chain: ItemTransitions, first_item_id: int, weight: float) -> None:
        if not 0 <= weight <= 1:
            raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
        self.base = base
        self.chain = chain
        self.first_item_id = first_item_id
        self.weight = weight

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.base(batch).float()
        if self.weight == 0:
            return logits
        model = torch.softmax(logits, dim=1)
        histories = (batch["input_ids"] - self.first_item_id).cpu().tolist()
        chain = torch.from_numpy(self.chain.next_item_probabilities(histories)).to(model.device)
        mixed = (1 - self.weight) * model + self.weight * chain
        # The smallest positive float keeps unreachable items ranked (below every reachable one)
        # instead of tied at -inf.
        return mixed.clamp_min_(torch.finfo(mixed.dtype).tiny).log_()


def choose_mixture_weight(evaluate: Callable[[MixtureScorer], dict[str, float]],
                          make: Callable[[float], MixtureScorer],
                          weights: Sequence[float] = DEFAULT_WEIGHTS,
                          metric: str = "ndcg@10") -> tuple[float, dict[str, float]]:
    """The weight with the best validation ``metric`` (the smallest among ties).

    Args:
        evaluate: Validation evaluation of a scorer (e.g. ``valid_evaluator.evaluate``).
        make: Builds the scorer of a weight.
        weights: Candidates.
        metric: Key of ``evaluate``'s result to maximise.

    Returns:
        ``(best weight, {str(weight): metric})``.
    """
    if not weights:
        raise ValueError("no mixture weights to choose from")
    results = {str(w): float(evaluate(make(w))[metric]) for w in weights}
    best = max(weights, key=lambda w: (results[str(w)], -w))
    return float(best), results


class CachedQueries:
    """A vector scorer whose user vectors are computed once per batch and kept, so that
    several mixture weights score the same batches without encoding them again.

    Args:
        scorer: A :class:`~recsft.evaluation.ranking.VectorScorer` (``query_vectors``,
            ``score_vectors``).
    """

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self._vectors: dict[tuple[int, ...], torch.Tensor] = {}

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        key = tuple(batch["index"].tolist())
        if key not in self._vectors:
            self._vectors[key] = self.scorer.query_vectors(batch)
        return self.scorer.score_vectors(self._vectors[key]).to(batch["input_ids"].device)
