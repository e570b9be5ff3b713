"""Ranking a recommender's users by the run's scoring mixture: the model's softmax with the
item transitions, the text-similarity term and the new-item prior where the transitions were
chosen with them (:class:`~recsft.scoring.mixture.MixtureScorer`), densely over every indexed
item the model knows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from recsft.modeling.transitions import ItemTransitions
    from recsft.scoring.content import ContentScorer

__all__ = ["check_mixture_parts", "mixture_search"]


def check_mixture_parts(num_items: int, transitions: ItemTransitions | None,
                        content: ContentScorer | None, has_popularity: bool = True) -> None:
    """Refuse transitions or text vectors that do not belong to a catalogue of ``num_items``.

    Raises:
        ValueError: the transitions have no chosen weight, were chosen with a text term but no
            ``content`` is given, with a new-item prior but no item popularity tells which
            items are new (``has_popularity``), or either covers another number of items.
    """
    if transitions is not None:
        if transitions.settings.weight is None:
            raise ValueError("the item transitions have no mixture weight; fit them with "
                             "'recsft transitions --run DIR'")
        if transitions.num_items != num_items:
            raise ValueError(f"the item transitions cover {transitions.num_items} items, "
                             f"the tokenizer {num_items}: not the same run")
        if transitions.settings.content_weight and content is None:
            raise ValueError("the item transitions were chosen with a text-similarity term "
                             f"(content_weight {transitions.settings.content_weight:g}): "
                             "give content= (the run's items have no text vectors)")
        if transitions.settings.new_item_prior and not has_popularity:
            raise ValueError("the item transitions were chosen with a new-item prior "
                             f"({transitions.settings.new_item_prior:g}): give popularity= "
                             "(the training interactions per item tell which items are new)")
    if content is not None and content.num_items != num_items:
        raise ValueError(f"the text vectors cover {content.num_items} items, the tokenizer "
                         f"{num_items}: not the same run")


def mixture_search(recommender: Any, input_ids: torch.Tensor, queries: np.ndarray, k: int,
                   exclude: Sequence[Collection[str]], allowed: Collection[str] | None
                   ) -> tuple[np.ndarray, list[list[str | None]]]:
    """Top-``k`` of the mixture for a :class:`~recsft.retrieval.recommender.Recommender`.

    Args:
        recommender: The recommender (its transitions, text term, tokenizer and index).
        input_ids: ``(n, L)`` model inputs of the histories.
        queries: ``(n, dim)`` user vectors of the same histories.
        k: Items per user.
        exclude: Per user, items never returned (the history's).
        allowed: Only these items may be returned (``None``: every indexed item).

    Returns:
        ``(scores (n, k), ids)``, ``None`` ids where fewer than ``k`` items qualify.
    """
    from recsft.scoring.mixture import MixtureScorer

    chain, items = recommender.transitions, recommender.tokenizer.item_ids
    logits = torch.from_numpy(queries @ recommender.item_matrix().T)
    first = recommender.tokenizer.first_item_id
    batch = {"input_ids": input_ids, "index": torch.arange(len(input_ids))}
    settings = chain.settings
    fresh = recommender.new_item_mask() if settings.new_item_prior else None
    scores = MixtureScorer(lambda _: logits, chain, first, settings.weight, settings.smoothing,
                           settings.temperature, recommender.content,
                           settings.content_weight, fresh, settings.new_item_prior)(batch)
    banned = torch.from_numpy(np.array([item not in recommender.index or (
        allowed is not None and item not in allowed) for item in items]))
    scores[:, banned] = float("-inf")
    rows_of = recommender._item_rows  # item id -> row of the item matrix
    for row, items_out in enumerate(exclude):
        cols = [rows_of[i] for i in items_out if i in rows_of]
        scores[row, cols] = float("-inf")
    top = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    found = [[items[c] if v > float("-inf") else None for v, c in zip(values, cols)]
             for values, cols in zip(top.values.tolist(), top.indices.tolist())]
    return top.values.numpy(), found
