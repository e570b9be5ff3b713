"""The content baseline of the cold-start protocol as a scorer: text similarity of each
candidate to the newest items of the history.

A user's profile is the mean of the text vectors of the newest :data:`PROFILE_ITEMS` items of
the history (``[PAD]``, ``[UNK]``, ``[MASK]``, ``[CLS]`` skipped); every item scores its cosine
with the profile. A history holding no known item, or whose items have no text (zero vectors),
scores every item 0. Items without text have a zero vector and score 0 for everyone. Unlike the
model, the baseline needs no training interactions, so cold items are ranked like warm ones.

Example:
    >>> vectors = np.eye(3, dtype=np.float32)
    >>> score = content_scorer(vectors, first_item_id=4)
    >>> score({"input_ids": torch.tensor([[0, 4, 5]])}).tolist()
    [[0.7071067690849304, 0.7071067690849304, 0.0]]
"""

from __future__ import annotations

import numpy as np
import torch

#: Newest history items averaged into the profile.
PROFILE_ITEMS = 3


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """``(n, dim)`` float32 rows scaled to unit length; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class ContentScorer:
    """Scores every item by the cosine of its text vector with the user's profile.

    The content baseline of the cold-start protocol, and the text-similarity term of a run's
    scoring mixture (:class:`~recsft.scoring.mixture.MixtureScorer`, ``content_weight``).

    Args:
        item_vectors: ``(num_items, dim)`` text vectors in the tokenizer's item order (row
            ``i`` is token id ``first_item_id + i``); rows are normalised here, zero rows (items
            without text) stay zero.
        first_item_id: The tokenizer's first item id; smaller ids are special tokens, skipped.
        n: Newest history items averaged into the profile.

    Raises:
        ValueError: ``item_vectors`` is not 2-D or ``n < 1``.
    """

    def __init__(self, item_vectors: np.ndarray, first_item_id: int,
                 n: int = PROFILE_ITEMS) -> None:
        if np.ndim(item_vectors) != 2:
            raise ValueError(f"item_vectors: expected (num_items, dim), got shape "
                             f"{np.shape(item_vectors)}")
        if n < 1:
            raise ValueError(f"n: expected at least 1 history item, got {n}")
        self.first_item_id, self.n = first_item_id, n
        self.unit = torch.from_numpy(normalise_rows(item_vectors))

    @property
    def num_items(self) -> int:
        """Items scored (rows of the vectors)."""
        return int(self.unit.shape[0])

    def add_items(self, item_vectors: np.ndarray) -> None:
        """Append ``(n, dim)`` text vectors of new items (the tokenizer's newest ids)."""
        vectors = normalise_rows(item_vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.unit.shape[1]:
            raise ValueError(f"item_vectors: expected (n, {self.unit.shape[1]}), got shape "
                             f"{vectors.shape}")
        self.unit = torch.cat([self.unit, torch.from_numpy(vectors)])

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, num_items)`` float32 cosines in ``[-1, 1]`` for ``input_ids`` ``(B, L)``
        (left-padded, newest last)."""
        ids = batch["input_ids"]
        device = ids.device
        unit = self.unit.to(device)
        num_items = unit.shape[0]
        # Row 0 stands for every token that is not an item.
        padded = torch.cat([torch.zeros(1, unit.shape[1], device=device), unit])
        index = ids.long() - self.first_item_id + 1
        known = (ids >= self.first_item_id) & (index <= num_items)
        # Known items at or after each position; the newest n known items have at most n.
        newer = known.flip(1).long().cumsum(1).flip(1)
        keep = known & (newer <= self.n)
        rows = padded[torch.where(keep, index, torch.zeros_like(index))]
        profile = rows.sum(1)  # (B, dim); excluded positions hit the zero row
        norm = profile.norm(dim=1, keepdim=True)
        profile = torch.where(norm > 0, profile / norm.clamp_min(1e-12),
                              torch.zeros_like(profile))
        return profile @ unit.T


def content_scorer(item_vectors: np.ndarray, first_item_id: int,
                   n: int = PROFILE_ITEMS) -> ContentScorer:
    """A :class:`ContentScorer` (see there for the arguments).

    Returns:
        A scorer mapping a batch (``input_ids`` ``(B, L)``, left-padded, newest last) to
        ``(B, num_items)`` float32 cosines in ``[-1, 1]``.

    Raises:
        ValueError: ``item_vectors`` is not 2-D or ``n < 1``.
    """
    return ContentScorer(item_vectors, first_item_id, n)
