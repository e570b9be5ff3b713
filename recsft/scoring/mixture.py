"""A model's next-item distribution interpolated with item transitions.

Each history item ``h_k`` read by :class:`~recsft.modeling.transitions.ItemTransitions`
speaks for a share ``r_k`` of the next item (recency-weighted, newest first). Of that share,
``w * n_k / (n_k + a)`` goes to its successors ``T[h_k]`` and the rest to the model, where
``n_k`` is how many successors of ``h_k`` training saw and ``a`` (``smoothing``) is the
model's weight in pseudo-counts (Dirichlet smoothing of the counts toward the model)::

    P(j | h) = (1 - w s_h) softmax(model / t)_j + w sum_k r_k n_k / (n_k + a) T[h_k, j]

with ``s_h = sum_k r_k n_k / (n_k + a)``; items are ranked by ``log P``. ``a = 0`` trusts every
row with successors fully (a fixed interpolation, ``s_h = 1`` when every read item has some).
The temperature ``t`` calibrates the model's distribution against the chain's (``t > 1``
flattens it; the model's own ranking is the same at every ``t``). ``w``, ``a`` and ``t`` are
chosen on the validation split (:func:`recsft.evaluation.mixture.choose_mixture`), never on the
test split; with ``w = 0`` the ranking is the model's own.

When the items have text, a text-similarity term can be added to the log probability::

    score_j = log P(j | h) + c cos(text_j, profile(h))

(:class:`~recsft.scoring.content.ContentScorer`: the profile is the mean text vector of the
newest history items), a product of the mixture with ``exp(c cos)``. ``c`` (``content_weight``)
is chosen on validation after ``w``, ``a``, ``t``
(:func:`recsft.evaluation.mixture.choose_content_weight`).

Items nobody interacted with in training (new in the catalogue, or held out by the cold-start
protocol) are neither successors in the chain nor peaks of the model's softmax, which learned
its peaks from behaviour; a new-item prior ``b`` is added to their score::

    score_j = log P(j | h) + c cos(text_j, profile(h)) + b [j had no training interactions]

(a factor ``exp(b)`` on their probability), chosen on validation last
(:func:`recsft.evaluation.mixture.choose_new_item_prior`).

Example:
    >>> scorer = MixtureScorer(model_scorer(model), chain, first_item_id=4, weight=0.8,
    ...                        smoothing=30)
    >>> evaluator.evaluate(scorer)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from recsft.scoring.vectors import Scorer

if TYPE_CHECKING:
    from recsft.modeling.transitions import ItemTransitions

__all__ = ["BatchSoftmax", "MixtureScorer"]


class BatchSoftmax:
    """The softmax of a scorer's logits (per temperature), kept for the last batch seen:
    mixtures sharing it and scoring the same batch one after the other
    (:meth:`~recsft.evaluation.ranking.RankingEvaluator.evaluate_many`) compute it once.

    Args:
        base: A scorer of the model (batch → ``(B, num_items)`` logits).
    """

    def __init__(self, base: Scorer) -> None:
        self.base = base
        self._key: tuple[int, ...] | None = None
        self._logits: torch.Tensor | None = None
        self._probabilities: dict[float, torch.Tensor] = {}

    def __call__(self, batch: dict[str, torch.Tensor], temperature: float = 1.0
                 ) -> torch.Tensor:
        """``(B, num_items)`` next-item probabilities ``softmax(logits / temperature)`` (not
        to be changed in place: the next caller gets the same tensor)."""
        key = tuple(batch["index"].tolist())
        if key != self._key:
            self._logits = self.base(batch).float()
            self._probabilities = {}
            self._key = key
        if temperature not in self._probabilities:
            self._probabilities[temperature] = _softmax(self._logits, temperature)
        return self._probabilities[temperature]


def _softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits if temperature == 1 else logits / temperature, dim=1)


class MixtureScorer:
    """Scores a batch as the log of the mixture of the model and the item transitions.

    Args:
        base: A scorer of the model (batch → ``(B, num_items)`` logits), or a
            :class:`BatchSoftmax` of one shared between mixtures.
        chain: Item transitions over the same item indices.
        first_item_id: Token id of the first item (history ids below it are special tokens).
        weight: ``w``, the chain's largest share, in ``[0, 1]``.
        smoothing: ``a``, the model's pseudo-counts in each successor row (``>= 0``).
        temperature: ``t``, of the model's softmax (``> 0``).
        content: Text similarity of each item to the history (``(B, num_items)`` cosines),
            e.g. a :class:`~recsft.scoring.content.ContentScorer`; ``None``: no such term.
        content_weight: ``c``, its weight (``>= 0``; ignored without ``content``).
        new_items: ``(num_items,)`` bool, the items without training interactions; ``None``:
            no new-item prior.
        new_item_prior: ``b``, added to the new items' scores (ignored without ``new_items``).
    """

    def __init__(self, base: Scorer | BatchSoftmax, chain: ItemTransitions, first_item_id: int,
                 weight: float, smoothing: float = 0.0, temperature: float = 1.0,
                 content: Scorer | None = None, content_weight: float = 0.0,
                 new_items: torch.Tensor | None = None, new_item_prior: float = 0.0) -> None:
        if not 0 <= weight <= 1:
            raise ValueError(f"mixture weight must be in [0, 1], got {weight}")
        if smoothing < 0:
            raise ValueError(f"mixture smoothing must be non-negative, got {smoothing}")
        if temperature <= 0:
            raise ValueError(f"mixture temperature must be positive, got {temperature}")
        if not content_weight >= 0:
            raise ValueError(f"content weight must be non-negative, got {content_weight}")
        if not np.isfinite(new_item_prior):
            raise ValueError(f"new-item prior must be finite, got {new_item_prior}")
        self.base = base if isinstance(base, BatchSoftmax) else None
        self.logits = base.base if isinstance(base, BatchSoftmax) else base
        self.chain = chain
        self.first_item_id = first_item_id
        self.weight = weight
        self.smoothing = smoothing
        self.temperature = temperature
        self.content = content if content_weight else None
        self.content_weight = content_weight
        self._new_item_scores = (new_items.float() * new_item_prior
                                 if new_items is not None and new_item_prior else None)
        self.new_item_prior = new_item_prior

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = self._mixture(batch)
        if self.content is not None:
            scores = scores + self.content_weight * self.content(batch).to(scores.device)
        if self._new_item_scores is not None:
            scores = scores + self._new_item_scores.to(scores.device)
        return scores

    def _mixture(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.weight == 0:  # the model alone: its log-softmax up to a constant per row
            logits = self.logits(batch).float()
            return logits if self.temperature == 1 else logits / self.temperature
        model = (self.base(batch, self.temperature) if self.base is not None
                 else _softmax(self.logits(batch).float(), self.temperature))
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
