"""Item-to-item transitions: a Markov chain over the training sequences.

The next-item distribution after a history is the recency-weighted average of the transition
rows of its newest items: ``P(j | h) = sum_k r_k T[h_k, j]`` with ``r_k ∝ decay ** age_k``
over the newest ``window`` items, where ``T[i, j]`` is the share of ``i``'s successors that are
``j`` (successors at distance ``d`` counted with weight ``order_weights[d - 1]``; ``n_i``, the
weighted count of ``i``'s successors, is kept: a mixture trusts a row by how much it saw,
:meth:`ItemTransitions.reading`). It is the
Markov-chain half of FPMC (Rendle et al., WWW 2010) without the factorisation, and on sparse
catalogues it knows pairs of items a sequence encoder has seen too rarely to embed well;
:class:`~recsft.evaluation.mixture.MixtureScorer` interpolates it with a model's softmax.

Saved as ``transitions.safetensors`` (the CSR arrays; settings in the header): no pickle.

Example:
    >>> chain = ItemTransitions.fit([[0, 1, 2], [1, 2]], num_items=3)
    >>> chain.next_item_probabilities([[0, 1]])            # (1, 3), rows sum to <= 1
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: File name inside a run folder.
TRANSITIONS_FILE = "transitions.safetensors"
#: Arrays of the file: the row-normalised CSR matrix and the successor counts.
_ARRAYS = ("indptr", "indices", "data", "totals")


@dataclass
class TransitionSettings:
    """How the chain is counted and read.

    Attributes:
        order_weights: Weight of a successor at distance 1, 2, ... (``(1.0, 0.3)``: the next
            item counts 1, the one after it 0.3).
        decay: Weight ratio between consecutive history items, newest first.
        window: Newest history items read.
        weight: Mixture weight ``w`` of the chain against a model (chosen on validation by
            :func:`~recsft.evaluation.mixture.choose_mixture`; ``None`` until then).
        smoothing: Pseudo-counts ``a`` of the model in each history item's successor counts
            (a row seen ``n`` times speaks with ``n / (n + a)`` of its share; ``0``: every row
            with successors fully), chosen with ``weight``.
        temperature: Of the model's softmax in the mixture (``> 1`` flattens it), chosen with
            ``weight``.
    """

    order_weights: tuple[float, ...] = (1.0, 0.3)
    decay: float = 0.3
    window: int = 10
    weight: float | None = None
    smoothing: float = 0.0
    temperature: float = 1.0
    #: Validation metric per candidate tried, when chosen (``{"weight", "smoothing",
    #: "temperature", metric}``).
    validation: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.order_weights = tuple(float(w) for w in self.order_weights)
        if not self.order_weights or any(w < 0 for w in self.order_weights):
            raise ValueError(f"order_weights must be non-negative and not empty, got "
                             f"{self.order_weights}")
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if self.weight is not None and not 0 <= self.weight <= 1:
            raise ValueError(f"weight must be in [0, 1], got {self.weight}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must be non-negative, got {self.smoothing}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


class ItemTransitions:
    """Row-normalised item transition counts ``(num_items, num_items)``, sparse.

    Args:
        indptr, indices, data: The CSR arrays of the row-normalised matrix.
        totals: ``(num_items,)`` weighted successor count of each item (its row's mass
            before normalisation).
        num_items: Catalogue size (item indices ``0 .. num_items - 1``).
        settings: How it was counted and how histories read it.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 totals: np.ndarray, num_items: int, settings: TransitionSettings) -> None:
        from scipy import sparse

        if totals.shape != (num_items,):
            raise ValueError(f"totals must have shape ({num_items},), got {totals.shape}")
        self.num_items = num_items
        self.settings = settings
        self.matrix = sparse.csr_matrix((data, indices, indptr), shape=(num_items, num_items))
        self.totals = np.asarray(totals, dtype=np.float64)

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], num_items: int,
            settings: TransitionSettings | None = None) -> ItemTransitions:
        """Count successors in ``sequences`` of item indices (oldest first; negative indices,
        e.g. unknown items, break no chain but are skipped as endpoints)."""
        from scipy import sparse

        settings = settings or TransitionSettings()
        rows, cols, vals = [], [], []
        for sequence in sequences:
            items = np.asarray(sequence, dtype=np.int64)
            for distance, weight in enumerate(settings.order_weights, start=1):
                if len(items) <= distance or weight == 0:
                    continue
                source, target = items[:-distance], items[distance:]
                keep = (source >= 0) & (target >= 0)
                rows.append(source[keep])
                cols.append(target[keep])
                vals.append(np.full(int(keep.sum()), weight))
        if rows:
            counts = sparse.csr_matrix(
                (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                shape=(num_items, num_items))
        else:
            counts = sparse.csr_matrix((num_items, num_items))
        counts.sum_duplicates()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        normalised = sparse.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ counts
        normalised = sparse.csr_matrix(normalised, dtype=np.float32)
        return cls(normalised.indptr, normalised.indices, normalised.data, totals, num_items,
                   settings)

    def reading(self, histories: Sequence[Sequence[int]], smoothing: float = 0.0) -> Any:
        """How much each history item's row speaks for the next item: ``(B, num_items)``
        sparse, ``R[b, i] = r_k * n_i / (n_i + smoothing)`` for ``i = h_k`` among the newest
        ``window`` items of history ``b`` (``r_k ∝ decay ** age_k``, summing to 1 over them;
        with ``smoothing = 0`` the factor is 1 for an item with successors). Items without
        successors weigh 0; so a row sums to at most 1, and the rest is the model's.

        Args:
            histories: Item indices, oldest first (negative entries ignored).
            smoothing: Pseudo-counts ``a``, see :class:`TransitionSettings`.
        """
        from scipy import sparse

        settings = self.settings
        rows, cols, vals = [], [], []
        for row, history in enumerate(histories):
            items = [int(i) for i in history if i >= 0][-settings.window:]
            if not items:
                continue
            weights = settings.decay ** np.arange(len(items) - 1, -1, -1, dtype=np.float64)
            seen = self.totals[items]
            trust = seen / (seen + smoothing) if smoothing > 0 else (seen > 0).astype(float)
            rows.extend([row] * len(items))
            cols.extend(items)
            vals.extend(weights / weights.sum() * trust)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(histories), self.num_items))

    def next_item_probabilities(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """``(B, num_items)`` float32 next-item distributions of ``histories`` (item indices,
        oldest first; negative entries ignored). A row sums to at most 1: the weight of a
        history item without known successors is left out (the chain has nothing to say
        there, and a mixture gives that share to the model)."""
        return (self.reading(histories) @ self.matrix).toarray().astype(np.float32)

    def save(self, directory: str) -> str:
        """Write :data:`TRANSITIONS_FILE` into ``directory`` (temporary file, then rename)."""
        from safetensors.numpy import save_file

        path = os.path.join(directory, TRANSITIONS_FILE)
        tmp = path + ".tmp"
        metadata = {"num_items": str(self.num_items),
                    "settings": json.dumps(asdict(self.settings))}
        try:
            save_file({"indptr": self.matrix.indptr.astype(np.int64),
                       "indices": self.matrix.indices.astype(np.int64),
                       "data": self.matrix.data.astype(np.float32),
                       "totals": self.totals.astype(np.float64)}, tmp, metadata=metadata)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    @classmethod
    def load(cls, directory: str) -> ItemTransitions:
        """Read :data:`TRANSITIONS_FILE` from ``directory``.

        Raises:
            FileNotFoundError: the folder has none (``recsft transitions --run DIR`` writes it).
            ValueError: the file is not one :meth:`save` wrote (names the file and what is
                missing).
        """
        from safetensors import safe_open

        path = os.path.join(directory, TRANSITIONS_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no item transitions; fit them with "
                                    f"'recsft transitions --run {directory}'")
        try:
            with safe_open(path, framework="numpy") as handle:
                metadata = handle.metadata() or {}
                arrays = {name: handle.get_tensor(name) for name in _ARRAYS}
            settings = TransitionSettings(**json.loads(metadata["settings"]))
            num_items = int(metadata["num_items"])
        except Exception as err:  # safetensors, JSON and key errors alike
            raise ValueError(f"{path}: not an item-transitions file written by recsft "
                             f"(expected arrays {'/'.join(_ARRAYS)} and 'settings', "
                             f"'num_items' metadata; refit older ones with 'recsft transitions "
                             f"--run {directory}'): {err}") from err
        return cls(*(arrays[name] for name in _ARRAYS), num_items, settings)
