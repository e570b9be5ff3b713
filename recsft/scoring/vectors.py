"""Scorers: a batch of users becomes ``(B, num_items)`` scores.

A :data:`Scorer` is any callable from a batch (``input_ids``, ``token_type_ids``,
``attention_mask`` (and ``time_gap_ids``) of shape ``(B, L)``) to scores over the catalogue; a
:class:`VectorScorer` scores by inner product with a fixed item matrix, which lets the evaluator
search exactly instead of writing the score matrix out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

from recsft.scoring.exact_search import flat_index

Scorer = Callable[[dict[str, torch.Tensor]], torch.Tensor]
T = TypeVar("T")

#: Multiply-adds from which a CPU score product goes through numpy (OpenBLAS) instead of torch.
#: Below it the two kernels take the same time, and OpenBLAS's worker threads, which keep
#: spinning after a call, would slow the next encoding by torch's threads on the same cores
#: (MovieLens 100K, 943 × 64 × 1,682: evaluation 0.16 s with numpy, 0.10 s without).
NUMPY_PRODUCT_WORK = 1 << 28


class VectorScorer:
    """Scores users by inner product with a fixed item matrix: ``query_vectors(batch) @ items.T``.

    Called on a batch it returns the ``(B, num_items)`` scores. On the CPU it also offers
    :attr:`exact_index`, with which
    :meth:`~recsft.evaluation.ranking.RankingEvaluator.top_k` finds each user's best unseen
    items through a flat (exact) FAISS index instead of writing out the score matrix
    (:mod:`recsft.scoring.exact_search`). Subclasses say how a batch becomes user vectors.

    Large dense CPU products go through numpy (OpenBLAS), which runs this skinny float32
    product — ``(users, 64) × (64, items)`` — about twice as fast as torch's CPU kernel on the
    project's machine (85 vs 38 GFLOP/s for 1,024 × 64 × 54,542); small ones (below
    :data:`NUMPY_PRODUCT_WORK`) and those on an accelerator stay in torch.

    Args:
        items: ``(num_items, dim)`` item vectors, in item-index order.
    """

    def __init__(self, items: torch.Tensor) -> None:
        self.items = items.detach().float()
        self.device = self.items.device
        on_cpu = self.device.type == "cpu"
        #: The transposed item matrix for numpy products, on the CPU only (else ``None``).
        self._items_t = self.items.T.contiguous().numpy() if on_cpu else None
        self._index: Any = None

    @property
    def searchable(self) -> bool:
        """Whether :attr:`exact_index` is available (on the CPU), without building it."""
        return self._items_t is not None

    @property
    def exact_index(self) -> Any:
        """A flat FAISS index over the item vectors (CPU only; ``None`` on an accelerator),
        built on first use."""
        if self._items_t is not None and self._index is None:
            self._index = flat_index(self.items.numpy())
        return self._index

    def query_vectors(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, dim)`` float32 user vectors of a batch, on the items' device."""
        raise NotImplementedError

    def map_slices(self, batch: dict[str, torch.Tensor],
                   fn: Callable[[torch.Tensor, int, int], T]) -> list[T]:
        """``fn(users, start, stop)`` of the user vectors of consecutive row slices of a
        batch, in row order; here one slice, the whole batch. Subclasses that encode in
        slices (:class:`ModelScorer`) hand each slice's vectors to ``fn`` where they were
        encoded.

        Args:
            batch: A batch of ``B`` users.
            fn: Maps ``(rows, dim)`` vectors of rows ``start:stop`` to a result.

        Returns:
            The results, covering rows ``0:B`` in order.
        """
        return [fn(self.query_vectors(batch), 0, batch["input_ids"].shape[0])]

    def score_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, num_items)`` scores of :meth:`query_vectors`' output, on the items' device."""
        if self._items_t is not None and users.numel() * len(self.items) >= NUMPY_PRODUCT_WORK:
            return torch.from_numpy(users.numpy() @ self._items_t)
        return users @ self.items.T

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.score_vectors(self.query_vectors(batch)).to(batch["seen"].device)
